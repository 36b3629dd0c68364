"""The audit trail: one row per action on a share, written once and never changed.

Rows are only ever inserted (`audit.services.record`). The model, its queryset and, on
PostgreSQL, a trigger on the table (migration 0002) refuse every UPDATE and DELETE; TRUNCATE
is left alone (the test framework empties tables with it), as docs/audit.md explains.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class AuditTrailIsAppendOnly(Exception):
    """An attempt to change or remove an audit event."""


APPEND_ONLY = "The audit trail is append-only: its events cannot be changed or deleted."


class AuditAction(models.TextChoices):
    """What happened. A share link's every request is in its own access log
    (sharelinks.ShareAccess); the trail holds its revocation and the receipts."""

    LAUNCHED = "launched", "share launched"
    DRY_RUN_STARTED = "dry_run_started", "dry run started"
    DRY_RUN_ENDED = "dry_run_ended", "dry run ended"
    PUSH_STARTED = "push_started", "push started"
    PUSH_ENDED = "push_ended", "push ended"
    PULL_STARTED = "pull_started", "pull started"
    PULL_ENDED = "pull_ended", "pull ended"
    LINKS_ISSUED = "links_issued", "links issued"
    LINKS_REQUESTED = "links_requested", "new links requested"
    LINKS_RENEWED = "links_renewed", "links renewed"
    ABORT_REQUESTED = "abort_requested", "abort requested"
    RERUN = "rerun", "re-run"
    RECIPIENT_ADDED = "recipient_added", "recipient added"
    RECIPIENT_CHANGED = "recipient_changed", "recipient changed"
    SHARE_LINK_REVOKED = "share_link_revoked", "share link revoked"
    RECEIPT_RECEIVED = "receipt_received", "download receipt received"


# (share type, dry run) -> what its start and its end are called
JOB_ACTIONS: dict[tuple[str, bool], tuple[AuditAction, AuditAction]] = {
    ("push", True): (AuditAction.DRY_RUN_STARTED, AuditAction.DRY_RUN_ENDED),
    ("pull", True): (AuditAction.DRY_RUN_STARTED, AuditAction.DRY_RUN_ENDED),
    ("push", False): (AuditAction.PUSH_STARTED, AuditAction.PUSH_ENDED),
    ("pull", False): (AuditAction.PULL_STARTED, AuditAction.PULL_ENDED),
}


class ActorKind(models.TextChoices):
    """How the actor came."""

    SESSION = "session", "console session"  # a login session: the console, or the API in a browser
    TOKEN = "token", "API token"
    CLI = "cli", "command line"
    WORKER = "worker", "background worker"
    SHARE_LINK = "share_link", "collaborator (share link)"


class AuditEventQuerySet(models.QuerySet):
    """Reads only: updates and deletes in bulk are refused like the model's own."""

    def update(self, **kwargs):
        raise AuditTrailIsAppendOnly(APPEND_ONLY)

    def delete(self):
        raise AuditTrailIsAppendOnly(APPEND_ONLY)

    def _raw_delete(self, using):
        raise AuditTrailIsAppendOnly(APPEND_ONLY)

    def _update(self, values):
        raise AuditTrailIsAppendOnly(APPEND_ONLY)


class AuditEvent(models.Model):
    """One action on a share or a recipient: what, when, who and how they came, on which job,
    for which recipient and purpose, from which address, and its facts (`details`: the
    normalised request of a launch, the counts and bytes of an end, the fields a recipient's
    change touched). Never an API token's key or a presigned URL."""

    at = models.DateTimeField(default=timezone.now, db_index=True, editable=False)
    action = models.CharField(max_length=32, choices=AuditAction.choices, db_index=True)
    # The user who acted; for a worker's events, the job's launcher.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="audit_events",
    )
    actor_kind = models.CharField("came by", max_length=16, choices=ActorKind.choices)
    # Which API token, by its user and creation time (never its key).
    credential = models.CharField(max_length=200, blank=True)
    client_address = models.GenericIPAddressField(null=True, blank=True)
    job = models.ForeignKey(
        "jobs.Job", on_delete=models.PROTECT, null=True, blank=True, related_name="audit_events"
    )
    recipient = models.ForeignKey(
        "recipients.Recipient",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="audit_events",
    )
    purpose = models.TextField(blank=True)
    details = models.JSONField(default=dict, blank=True)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [
            models.Index(fields=["recipient", "at"], name="auditevent_recipient_at"),
            models.Index(fields=["job", "at"], name="auditevent_job_at"),
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.get_action_display()}"

    def save(self, *args, **kwargs) -> None:
        if not self._state.adding:
            raise AuditTrailIsAppendOnly(APPEND_ONLY)
        kwargs["force_insert"] = True
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AuditTrailIsAppendOnly(APPEND_ONLY)

    @property
    def actor_name(self) -> str:
        """Who acted, in words: the username, or the kind of actor when there is no user."""
        if self.actor is not None:
            return self.actor.get_username()
        return self.get_actor_kind_display()

    @property
    def summary(self) -> str:
        """The event's facts in one line, for the console and audit_report's table."""
        facts = self.details
        if self.action == AuditAction.LAUNCHED:
            where = facts.get("request", {}).get("shareDestination")
            return f"{facts.get('kind', '')}" + (f" to {where}" if where else "")
        if self.action in ENDED_ACTIONS:
            text = (
                f"{facts.get('status')}: {facts.get('objectsDone', 0)} of "
                f"{facts.get('objectsTotal', 0)} object(s), "
                f"{facts.get('bytesDone', 0):,} of {facts.get('bytesTotal', 0):,} bytes"
            )
            error = facts.get("error")
            return f"{text}; {error['type']}" if error else text
        if self.action in (AuditAction.LINKS_ISSUED, AuditAction.LINKS_RENEWED):
            return f"{', '.join(facts.get('outputs', []))}, expire {facts.get('expiresAt')}"
        if self.action == AuditAction.RERUN:
            return f"as job {facts.get('rerunJobId')}"
        if self.action in (AuditAction.RECIPIENT_ADDED, AuditAction.RECIPIENT_CHANGED):
            return ", ".join(sorted(facts.get("changes", {})))
        return ""


ENDED_ACTIONS = tuple(ended for _started, ended in JOB_ACTIONS.values())
