"""The emails a job's end calls for, and sending them once.

- The launcher hears of every job's end but a successful dry run (they are looking at it, and
  the next step is theirs); a dry run that failed or was aborted is worth a message.
- The recipient's contacts hear, when the recipient asks for it (notify_contacts), of a pull
  that succeeded (its links, their expiry, how to run the script) and of a push that succeeded
  (where the data is, how much). Never of a dry run, a failure or an abort.

One message per job and kind, whatever the job's size: counts and bytes, never a list of files.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.conf import settings
from django.core.mail import EmailMessage
from django.template.loader import render_to_string
from django.utils import timezone

from jobs.cli import human_bytes
from jobs.models import Job, JobStatus
from notifications.events import console_page, counts_of
from notifications.models import EmailNotification
from shares.contract import ShareType

logger = logging.getLogger(__name__)
Kind = EmailNotification.Kind


@dataclass(frozen=True)
class Email:
    kind: str
    to: list[str]
    subject: str
    body: str
    # Set when the message is due but cannot go: recorded as SKIPPED with this reason.
    skipped_because: str = ""


def launcher_hears(job: Job) -> bool:
    return not (job.dryrun and job.status == JobStatus.SUCCEEDED)


def contacts_hear(job: Job) -> bool:
    recipient = job.recipient
    return (
        recipient is not None
        and recipient.notify_contacts
        and job.status == JobStatus.SUCCEEDED
        and not job.dryrun
    )


def emails_for(job: Job) -> list[Email]:
    """The messages this job's end calls for (the module's docstring says which)."""
    emails = []
    if launcher_hears(job):
        emails.append(launcher_email(job))
    if contacts_hear(job):
        emails.append(contacts_email(job))
    return emails


def context_of(job: Job) -> dict:
    counts = counts_of(job)
    return {
        "job": job,
        "kind": job.kind,
        "status": job.status,
        "counts": counts,
        "bytes_done": human_bytes(counts.bytes_done),
        "bytes_total": human_bytes(counts.bytes_total),
        "recipient": job.recipient,
        "purpose": job.config.get("purpose", ""),
        "page": console_page(job),
        "page_is_a_path": not settings.CONSOLE_URL,
    }


def _render(name: str, context: dict) -> tuple[str, str]:
    subject = render_to_string(f"notifications/{name}_subject.txt", context)
    body = render_to_string(f"notifications/{name}_body.txt", context)
    return " ".join(subject.split())[:300], body


def launcher_email(job: Job) -> Email:
    subject, body = _render("launcher", context_of(job))
    address = job.created_by.email
    reason = "" if address else f"{job.created_by.get_username()} has no email address"
    return Email(Kind.LAUNCHER, [address] if address else [], subject, body, reason)


def contacts_email(job: Job) -> Email:
    context = context_of(job)
    pull = job.share_type == ShareType.PULL
    if pull:
        context["outputs"] = job.outputs()
        context["share_link"] = job.issued_share_link is not None
        context["script"] = next(
            (output for output in context["outputs"] if output.name == "dataDownloadScript"), None
        )
    subject, body = _render("contacts_pull" if pull else "contacts_push", context)
    to = list(job.recipient.contact_emails)
    reason = "" if to else f"the recipient {job.recipient.recipient_id} has no contact email"
    return Email(Kind.CONTACTS, to, subject, body, reason)


def send_once(job: Job, email: Email) -> EmailNotification | None:
    """Claim the job's message of this kind (its row), then send it; None when another run
    of the task claimed it first. A message whose sending was interrupted stays SENDING and
    is not sent again: at most once, never twice."""
    record, created = EmailNotification.objects.get_or_create(
        job=job, kind=email.kind, defaults={"to": email.to, "subject": email.subject}
    )
    if not created:
        return None
    if not settings.EMAIL_CONFIGURED:
        email = Email(email.kind, email.to, email.subject, email.body, "no mail server is set")
    if email.skipped_because:
        _record(record, EmailNotification.Status.SKIPPED, error=email.skipped_because)
        return record
    try:
        EmailMessage(email.subject, email.body, settings.DEFAULT_FROM_EMAIL, email.to).send()
    except Exception as error:  # the mail server's refusal, or no server at all
        reason = f"{type(error).__name__}: {error}"[:2000]
        logger.warning(
            "email %s about job %s not sent: %s",
            email.kind,
            job.pk,
            reason,
            extra={"job_id": str(job.pk)},
        )
        _record(record, EmailNotification.Status.FAILED, error=reason)
    else:
        _record(record, EmailNotification.Status.SENT, sent_at=timezone.now())
    return record


def _record(record: EmailNotification, status: str, **fields) -> None:
    EmailNotification.objects.filter(pk=record.pk).update(status=status, **fields)
    record.refresh_from_db()
