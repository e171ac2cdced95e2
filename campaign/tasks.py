"""Celery adapters for supporters: they take ids and call a service (queue: default)."""

from __future__ import annotations

from celery import shared_task

from campaign import data_links, services


# OSError covers refused connections and every smtplib.SMTPException. A retry after a send that
# did reach the server can repeat the confirmation email; that is the lesser harm.
@shared_task(
    name="campaign.tasks.confirmation_send",
    autoretry_for=(OSError,),
    retry_backoff=5,
    retry_backoff_max=600,
    max_retries=8,
    ignore_result=True,
)
def confirmation_send_task(supporter_id: int) -> str | None:
    return services.confirmation_send(supporter_id=supporter_id)


# Daily: deletes sign-ups never confirmed within SUPPORTERS_UNCONFIRMED_RETENTION_DAYS.
@shared_task(name="campaign.tasks.supporters_unconfirmed_prune", ignore_result=True)
def supporters_unconfirmed_prune_task() -> int:
    return services.supporters_unconfirmed_prune()


# The short-lived personal-data link (campaign/data_links.py); minted here, at send time.
@shared_task(
    name="campaign.tasks.data_link_send",
    autoretry_for=(OSError,),
    retry_backoff=5,
    retry_backoff_max=600,
    max_retries=8,
    ignore_result=True,
)
def data_link_send_task(supporter_id: int, purpose: str) -> bool:
    return data_links.data_link_send(supporter_id=supporter_id, purpose=purpose)
