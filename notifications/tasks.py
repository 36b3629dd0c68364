"""django-q2 task functions: thin, they take ids and call the service functions."""

from __future__ import annotations

from notifications import services, webhooks


def notify_job_end(job_id: str) -> str:
    return services.notify_job_end(job_id)


def retry_webhook(delivery_pk: int) -> str:
    return webhooks.retry(delivery_pk)
