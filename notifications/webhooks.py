"""Webhooks: a job's end POSTed as signed JSON to every active hook, retried with backoff.

Each attempt is a WebhookDelivery row, inserted (under a unique constraint) before the request
is made, so a task that runs twice never sends an attempt twice. A failed attempt schedules
the next one as a django-q2 Schedule (ONCE, at `next_run`) in the same transaction that
records the failure: the retry is a row in the database, which any cluster's scheduler turns
into a task when it is due, so it survives a worker's restart or crash (a task sleeping
between attempts would die with its worker, and would hold a worker while it waits).
django-q2's scheduler looks every 30 seconds, so a retry comes up to 30 s after its time.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import random
import time
from datetime import timedelta
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django_q.models import Schedule

from jobs.models import Job
from notifications.events import JOB_ENDED, event_body, event_id, job_ended_event
from notifications.models import Webhook, WebhookDelivery

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-DSM-Signature"
USER_AGENT = "DataSharingManager-Webhook/1"
RETRY_TASK = "notifications.tasks.retry_webhook"


def signature(secret: str, body: bytes) -> str:
    """The X-DSM-Signature value: HMAC-SHA256 of the exact body with the hook's secret."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def deliver_job_ended(job: Job) -> list[WebhookDelivery]:
    """The job's end to every active hook: first attempts, each claimed before it is made
    (a hook that already has one for this job is left alone)."""
    body = event_body(job_ended_event(job))
    made = []
    for hook in Webhook.objects.filter(active=True):
        delivery, created = WebhookDelivery.objects.get_or_create(
            hook=hook, job=job, event_type=JOB_ENDED, attempt=1, defaults={"body": body}
        )
        if created:
            attempt(delivery)
            made.append(delivery)
    return made


def retry(delivery_pk: int) -> str:
    """The next attempt after a failed one (a scheduled task): made once, with the hook's
    current URL and secret, if the hook is still active."""
    failed = WebhookDelivery.objects.select_related("hook").filter(pk=delivery_pk).first()
    if failed is None or failed.status != WebhookDelivery.Status.FAILED:
        return "nothing to retry"
    if not failed.hook.active:
        WebhookDelivery.objects.filter(pk=failed.pk).update(
            next_attempt_at=None, error=f"{failed.error} (not retried: the hook is inactive)"
        )
        return "hook inactive"
    delivery, created = WebhookDelivery.objects.get_or_create(
        hook=failed.hook,
        job_id=failed.job_id,
        event_type=failed.event_type,
        attempt=failed.attempt + 1,
        defaults={"body": failed.body, "delivery_id": failed.delivery_id},
    )
    if not created:
        return "already retried"
    attempt(delivery)
    return delivery.status


def attempt(delivery: WebhookDelivery) -> None:
    """POST the delivery's body once and record the answer; a failure schedules the next
    attempt while attempts remain. Redirects are not followed: a 3xx is a failure."""
    hook = delivery.hook
    body = delivery.body.encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-DSM-Event": delivery.event_type,
        "X-DSM-Event-Id": str(event_id(delivery.job_id, delivery.event_type)),
        "X-DSM-Delivery": str(delivery.delivery_id),
        "X-DSM-Attempt": str(delivery.attempt),
        "X-DSM-Timestamp": str(int(time.time())),
        SIGNATURE_HEADER: signature(hook.secret, body),
    }
    started = time.monotonic()
    status_code, error = None, ""
    try:
        response = requests.post(
            hook.url,
            data=body,
            headers=headers,
            timeout=settings.WEBHOOK_TIMEOUT_SECONDS,
            allow_redirects=False,
        )
        status_code = response.status_code
        if not 200 <= status_code < 300:
            error = f"HTTP {status_code} {response.reason or ''}".strip()[:300]
    except requests.RequestException as failure:
        error = redacted(f"{type(failure).__name__}: {failure}", hook.url)
    duration_ms = int((time.monotonic() - started) * 1000)
    _record(delivery, status_code, error, duration_ms)


def _record(delivery: WebhookDelivery, status_code: int | None, error: str, ms: int) -> None:
    fields = {"status_code": status_code, "duration_ms": ms, "error": error}
    if not error:
        fields["status"] = WebhookDelivery.Status.DELIVERED
    else:
        fields["status"] = WebhookDelivery.Status.FAILED
        if delivery.attempt < settings.WEBHOOK_MAX_ATTEMPTS:
            fields["next_attempt_at"] = timezone.now() + backoff(delivery.attempt)
        logger.warning(
            "webhook %s (%s): job %s, attempt %s of %s failed: %s",
            delivery.hook_id,
            delivery.hook.host,
            delivery.job_id,
            delivery.attempt,
            settings.WEBHOOK_MAX_ATTEMPTS,
            error,
            extra={"job_id": str(delivery.job_id)},
        )
    with transaction.atomic():
        WebhookDelivery.objects.filter(pk=delivery.pk).update(**fields)
        if fields.get("next_attempt_at"):
            Schedule.objects.create(
                name=f"webhook {delivery.hook_id} job {delivery.job_id} attempt "
                f"{delivery.attempt + 1}"[:100],
                func=RETRY_TASK,
                args=repr(delivery.pk),
                schedule_type=Schedule.ONCE,
                next_run=fields["next_attempt_at"],
            )
    delivery.refresh_from_db()


def backoff(attempts_made: int) -> timedelta:
    """The wait before the next attempt: WEBHOOK_BACKOFF_SECONDS doubled at each attempt, at
    most WEBHOOK_BACKOFF_MAX_SECONDS, of which a random half ("equal jitter": hooks that failed
    together do not all come back at once, and no wait is shorter than half its step)."""
    step = min(
        settings.WEBHOOK_BACKOFF_MAX_SECONDS,
        settings.WEBHOOK_BACKOFF_SECONDS * 2 ** (attempts_made - 1),
    )
    return timedelta(seconds=step / 2 + random.uniform(0, step / 2))


def redacted(text: str, url: str) -> str:
    """An error's text without the hook's URL, its path or its query (they may carry a token
    of the receiver's), for the delivery's record and the log."""
    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    for secret in sorted({url, path, parts.path, parts.query} - {"", "/"}, key=len, reverse=True):
        text = text.replace(secret, "<hook path>")
    return text[:1000]
