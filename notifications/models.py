"""Notifications of a job's end: the emails sent for it, the webhooks operators registered, and
every attempt to deliver a job's event to a hook.

A job ends once, but the task that tells people about it may run twice (a retried task, a
resumed finish): each message is claimed by inserting its row under a unique constraint before
it is sent, so the second run finds the row and sends nothing.
"""

from __future__ import annotations

import secrets
import uuid
from urllib.parse import urlsplit

from django.core.validators import URLValidator
from django.db import models
from django.utils import timezone

validate_hook_url = URLValidator(
    schemes=["http", "https"],
    message="Enter an http:// or https:// URL, such as https://lims.example.org/hooks/dsm.",
)


def new_secret() -> str:
    """A webhook's signing key: 256 random bits, URL-safe, shown once to the operator."""
    return secrets.token_urlsafe(32)


class EmailNotification(models.Model):
    """One email about one job: to its launcher, or to its recipient's contacts."""

    class Kind(models.TextChoices):
        LAUNCHER = "launcher", "to the launcher"
        CONTACTS = "contacts", "to the recipient's contacts"

    class Status(models.TextChoices):
        SENDING = "SENDING", "sending (or the worker stopped while sending)"
        SENT = "SENT"
        FAILED = "FAILED"
        SKIPPED = "SKIPPED", "not sent"

    job = models.ForeignKey("jobs.Job", on_delete=models.CASCADE, related_name="emails")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    to = models.JSONField(default=list, blank=True)
    subject = models.CharField(max_length=300, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.SENDING)
    # Why it failed (the mail server's answer) or was skipped; never the message's links.
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "kind"]
        constraints = [
            models.UniqueConstraint(fields=["job", "kind"], name="one_email_per_job_and_kind")
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} about job {self.job_id}: {self.status}"


class Webhook(models.Model):
    """A URL that gets a signed JSON event at every job's end (docs/notifications.md)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    url = models.CharField(
        "URL",
        max_length=2000,
        validators=[validate_hook_url],
        help_text="Where each job's end is POSTed as JSON. Treated as a secret: never logged.",
    )
    secret = models.CharField(
        max_length=100,
        default=new_secret,
        editable=False,
        help_text="The receiver checks X-DSM-Signature with it: HMAC-SHA256 of the body.",
    )
    description = models.CharField(max_length=200, blank=True)
    active = models.BooleanField(default=True, help_text="Inactive hooks get no events.")
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        # Some services put their own secret in the hook's path (Slack's, Teams'): only the host.
        return f"{self.description or 'webhook'} ({self.host})"

    @property
    def host(self) -> str:
        return urlsplit(self.url).netloc.rsplit("@", 1)[-1]

    def new_secret(self) -> None:
        self.secret = new_secret()
        self.save(update_fields=["secret"])


class WebhookDelivery(models.Model):
    """One attempt to POST one job's event to one hook. The first attempt is made by the job's
    notification task; a failed attempt with `next_attempt_at` set has a retry scheduled;
    a failed one without it was the last."""

    class Status(models.TextChoices):
        SENDING = "SENDING"
        DELIVERED = "DELIVERED", "delivered (2xx)"
        FAILED = "FAILED"

    hook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="deliveries")
    job = models.ForeignKey("jobs.Job", on_delete=models.CASCADE, related_name="webhook_deliveries")
    attempt = models.PositiveSmallIntegerField()
    # The same for every attempt at one hook and event (the X-DSM-Delivery header): a receiver
    # that got an event twice (its 2xx was lost) recognises it.
    delivery_id = models.UUIDField(default=uuid.uuid4)
    event_type = models.CharField(max_length=32)
    # The exact bytes that were signed and sent, the same for every attempt.
    body = models.TextField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.SENDING)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    started_at = models.DateTimeField(default=timezone.now, db_index=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at", "-attempt"]
        verbose_name_plural = "webhook deliveries"
        constraints = [
            models.UniqueConstraint(
                fields=["hook", "job", "event_type", "attempt"], name="one_delivery_per_attempt"
            )
        ]

    def __str__(self) -> str:
        return f"{self.event_type} of job {self.job_id}, attempt {self.attempt}: {self.status}"

    @property
    def outcome(self) -> str:
        """What happened, and what happens next, in words."""
        if self.status == self.Status.FAILED:
            if self.next_attempt_at:
                return f"failed; attempt {self.attempt + 1} at {self.next_attempt_at:%H:%M:%S}"
            return f"failed; gave up after attempt {self.attempt}"
        return self.get_status_display()
