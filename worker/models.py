from django.db import models


class OutboxTask(models.Model):
    """A task requested inside a transaction, recorded in that same transaction.

    Published to the broker after commit; the relay publishes what was left behind.
    """

    task_name = models.CharField(max_length=200)
    args = models.JSONField(default=list)
    kwargs = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    published_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    # Published by the flush task (outbox.enqueue_soon), never by the request that wrote it.
    by_flush = models.BooleanField(default=False)

    class Meta:
        indexes = [
            models.Index(
                fields=["created_at"],
                name="outbox_unpublished_idx",
                condition=models.Q(published_at__isnull=True),
            )
        ]

    def __str__(self) -> str:
        return f"{self.task_name}#{self.pk}"
