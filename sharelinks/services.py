"""What happens to a share link: issued with its pull, used, revoked, receipted."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from audit.context import Actor, acting_as, client_address
from audit.models import ActorKind, AuditAction
from audit.services import record
from jobs.models import Job, JobObject, ShareType
from sharelinks.models import Receipt, ShareAccess, ShareLink, Via
from sharelinks.tokens import derive_token, new_salt, token_hash
from sharing_project.errors import LaunchRefused

USER_AGENT_LENGTH = 300


class AlreadyRevoked(LaunchRefused):
    """Revoking twice: the API answers 409, the console and the command line say when."""

    status_code = 409


class NoShareLink(LaunchRefused):
    """The job has no share link to revoke or to read downloads from (409)."""

    status_code = 409


def link_days(job: Job) -> int:
    """How long the job's link lives: its launch's shareLinkExpiryDays, else the default."""
    asked = job.config.get("shareLinkExpiryDays", "")
    return int(asked) if asked else settings.SHARE_LINK_DEFAULT_DAYS


def issue_link(job: Job) -> ShareLink:
    """The job's share link, made now (or the one it has: a pull's links are issued once)."""
    existing = ShareLink.objects.filter(job=job).first()
    if existing is not None:
        return existing
    now = timezone.now().replace(microsecond=0)
    link = ShareLink(
        job=job,
        salt=new_salt(),
        base_url=settings.PUBLIC_BASE_URL,
        created_at=now,
        expires_at=now + timedelta(days=link_days(job)),
    )
    link.token_hash = token_hash(derive_token(link.pk, link.salt))
    link.save()
    return link


def revoke(link: ShareLink, user, reason: str) -> ShareLink:
    """Revoke at once: every later request with its token is refused. Raises AlreadyRevoked."""
    with transaction.atomic():
        locked = ShareLink.objects.select_for_update().select_related("job").get(pk=link.pk)
        if locked.revoked_at is not None:
            raise AlreadyRevoked(
                f"The share link of job {locked.job_id} was revoked on "
                f"{locked.revoked_at:%Y-%m-%d %H:%M} UTC already."
            )
        locked.revoked_at = timezone.now()
        locked.revoked_by = user
        locked.revoke_reason = reason
        locked.save(update_fields=["revoked_at", "revoked_by", "revoke_reason"])
        record(
            AuditAction.SHARE_LINK_REVOKED,
            job=locked.job,
            user=user,
            reason=reason,
            expiresAt=locked.expires_at.isoformat(),
            downloadsAllowed=locked.accesses.filter(allowed=True).count(),
        )
    return locked


def revoke_job_link(job: Job, user, reason: str) -> ShareLink:
    """Revoke the share link of a job (what the API, the console and revoke_share call).

    Steps: refuse (NoShareLink) a job that has none, saying why; revoke it (`revoke`: audited,
    AlreadyRevoked the second time); note it in the job's log, which the console shows.
    """
    link = job_link(job)
    revoked = revoke(link, user, reason)
    job.log(f"Share link revoked by {user.get_username()}: {reason}")
    return revoked


def job_link(job: Job) -> ShareLink:
    """The job's share link, or NoShareLink saying why it has none."""
    link = job.issued_share_link
    if link is None:
        raise NoShareLink(f"Job {job.pk} has no share link: {why_no_link(job)}")
    return link


def why_no_link(job: Job) -> str:
    if job.share_type != ShareType.PULL:
        return "a push copies the data to its destination and hands out no link."
    if job.dryrun:
        return "a dry run shares nothing."
    if job.has_links:
        return (
            "this pull hands out presigned links (PUBLIC_BASE_URL was not set when it ran), "
            "which cannot be revoked nor counted; they expire on their own."
        )
    return f"this pull is {job.status} and was given no link (a link is made when it succeeds)."


def record_access(
    request: HttpRequest,
    link: ShareLink | None,
    resource: str,
    status: int,
    *,
    via: str = Via.DOWNLOAD,
    job_object: JobObject | None = None,
    size: int | None = None,
) -> ShareAccess:
    """One request to a link (allowed when its status is below 400), in the access log."""
    return ShareAccess.objects.create(
        share=link,
        job_object=job_object,
        resource=resource[:200],
        via=via,
        client_address=client_address(request),
        user_agent=request.headers.get("User-Agent", "")[:USER_AGENT_LENGTH],
        allowed=status < 400,
        status=status,
        bytes=requested_bytes(request, size) if status < 400 else None,
    )


def requested_bytes(request: HttpRequest, size: int | None) -> int | None:
    """The bytes a GET asks for: the whole object, or what a `bytes=N-` range leaves of it;
    None when unknown (another kind of range, or no size)."""
    if size is None:
        return None
    wanted = request.headers.get("Range", "")
    if not wanted:
        return size
    if wanted.startswith("bytes=") and wanted.endswith("-") and wanted[6:-1].isdigit():
        return max(0, size - int(wanted[6:-1]))
    return None


def record_receipt(request: HttpRequest, link: ShareLink, counts: dict[str, int]) -> Receipt:
    """The script's verified summary, kept on the link and in the audit trail."""
    address = client_address(request)
    collaborator = Actor(ActorKind.SHARE_LINK, None, f"share link of job {link.job_id}", address)
    with transaction.atomic(), acting_as(collaborator):
        receipt = Receipt.objects.create(
            share=link,
            client_address=address,
            user_agent=request.headers.get("User-Agent", "")[:USER_AGENT_LENGTH],
            **counts,
        )
        details = {_camel(name): value for name, value in counts.items()}
        record(AuditAction.RECEIPT_RECEIVED, job=link.job, summary=receipt.summary(), **details)
    return receipt


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)
