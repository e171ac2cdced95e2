# The dispatcher's two looks get an index each (mailing/models.py, Delivery.Meta). Built
# concurrently: a running mailing's ledger may hold millions of rows, and a plain CREATE INDEX
# would hold its sends and marks for the whole build.

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("campaign", "0004_consent_methods_mailto_complaint"),
        ("mailing", "0007_complaints_and_sunset"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="delivery",
            index=models.Index(
                condition=models.Q(("dispatched_at__isnull", True), ("state", "queued")),
                fields=["id"],
                name="delivery_unpublished_idx",
            ),
        ),
        AddIndexConcurrently(
            model_name="delivery",
            index=models.Index(
                condition=models.Q(("dispatched_at__isnull", False), ("state", "queued")),
                fields=["dispatched_at"],
                name="delivery_published_idx",
            ),
        ),
    ]
