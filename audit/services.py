"""Recording events: the one function that writes the trail, and what each hook records.

Called by jobs.services (launch, re-run, new links, abort), by Job._transition (every status
change: a job started, a job ended, a pull's links issued), by the worker that renews a pull's
links, and by django-auditlog's post_log signal (a recipient added or changed). Views, the
admin and commands never write events themselves.
"""

from __future__ import annotations

import re
from typing import Any

from auditlog.models import LogEntry

from audit.context import current_actor
from audit.models import JOB_ACTIONS, ActorKind, AuditAction, AuditEvent
from recipients.models import Recipient

# A presigned URL carries its signature in the query string; an event never holds one.
_PRESIGNED = re.compile(r"X-Amz-Signature=|X-Amz-Credential=|[?&]Signature=", re.IGNORECASE)
LEFT_OUT = "[presigned URL left out]"


def record(
    action: AuditAction, *, job=None, recipient=None, user=None, **details: Any
) -> AuditEvent:
    """Write one event: who acts now (audit.context) unless `user` is given, on `job` (its
    recipient and purpose, unless `recipient` is given), with `details` (JSON values, keys in
    the API's camelCase). A worker acts for the job's launcher."""
    actor = current_actor()
    event = AuditEvent(
        action=action,
        actor_kind=actor.kind,
        credential=actor.credential,
        client_address=actor.address,
        job=job,
        details=without_presigned_urls(details),
    )
    if user is not None or actor.user is not None:
        event.actor = user if user is not None else actor.user
    elif job is not None and actor.kind == ActorKind.WORKER:
        event.actor_id = job.created_by_id
    if recipient is not None:
        event.recipient = recipient
    elif job is not None:
        event.recipient_id = job.recipient_id
    if job is not None:
        event.purpose = job.config.get("purpose", "")
    event.save()
    return event


def without_presigned_urls(value: Any) -> Any:
    """`value` with every string that holds a presigned URL replaced by a note."""
    if isinstance(value, dict):
        return {key: without_presigned_urls(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [without_presigned_urls(item) for item in value]
    if isinstance(value, str) and _PRESIGNED.search(value):
        return LEFT_OUT
    return value


# --- what the hooks record ------------------------------------------------------------------


def record_launch(job, config: dict, user) -> AuditEvent:
    """A share launched (any kind): its normalised request and fingerprint."""
    return record(
        AuditAction.LAUNCHED,
        job=job,
        user=user,
        kind=job.kind,
        shareType=job.share_type,
        dryrun=job.dryrun,
        fingerprint=job.share_request.fingerprint,
        request=config,
        sourceDryRunJobId=str(job.source_dry_run.job_id) if job.source_dry_run else None,
    )


def record_transition(job) -> list[AuditEvent]:
    """A job that changed status (re-read after the change): started, or ended with its counts
    and bytes; a pull that succeeded has issued its links."""
    started, ended = JOB_ACTIONS[(job.share_type, job.dryrun)]
    if not job.is_finished:
        return [record(started, job=job)]  # PENDING -> RUNNING, the one way into an active state
    events = [record(ended, job=job, **end_facts(job))]
    if job.has_links:  # a pull, not a dry run, that succeeded
        events.append(record_links(job, AuditAction.LINKS_ISSUED))
    return events


def end_facts(job) -> dict[str, Any]:
    facts: dict[str, Any] = {
        "status": job.status,
        "objectsDone": job.objects_done,
        "objectsTotal": job.objects_total,
        "bytesDone": job.bytes_done,
        "bytesTotal": job.bytes_total,
    }
    if job.error_type:
        facts["error"] = {"type": job.error_type, "message": job.error_message[:1000]}
    return facts


def record_links(job, action: AuditAction) -> AuditEvent:
    """A pull's links issued or renewed: which files, where they are, when the links die (the
    links themselves never; for a share link, that it is one)."""
    outputs = job.outputs()
    link = job.issued_share_link
    return record(
        action,
        job=job,
        outputs=[output.name for output in outputs],
        files={output.name: output.s3_uri for output in outputs},
        expiresAt=job.links_expire_at.isoformat() if job.links_expire_at else None,
        objects=job.objects_total,
        bytes=job.bytes_total,
        shareLink=link is not None,
    )


def record_logged_change(sender, instance, action, changes, log_entry=None, **kwargs) -> None:
    """django-auditlog's post_log: a recipient added or changed (its changed fields, old and
    new), copied into the trail beside the entry django-auditlog keeps."""
    if sender is not Recipient or log_entry is None:
        return
    kinds = {
        LogEntry.Action.CREATE: AuditAction.RECIPIENT_ADDED,
        LogEntry.Action.UPDATE: AuditAction.RECIPIENT_CHANGED,
    }
    if action in kinds:
        record(kinds[action], recipient=instance, changes=changes, logEntryId=log_entry.pk)
