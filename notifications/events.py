"""What a job's end says, once, for the emails and the webhooks: links to its pages, its
counts, and the JSON event. Never its presigned links: those go only to the recipient's
contacts, by email."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.urls import reverse

from jobs.models import Job, JobObject

JOB_ENDED = "job.ended"


def absolute(path: str) -> str:
    """A path of this service under CONSOLE_URL, or the path alone when that is not set."""
    return f"{settings.CONSOLE_URL}{path}" if settings.CONSOLE_URL else path


def console_page(job: Job) -> str:
    return absolute(reverse("admin:jobs_job_change", args=[job.pk]))


def api_page(job: Job) -> str:
    return absolute(reverse("job-detail", kwargs={"pk": job.pk}))


@dataclass(frozen=True)
class Counts:
    objects_done: int
    objects_total: int
    objects_failed: int
    bytes_done: int
    bytes_total: int


def counts_of(job: Job) -> Counts:
    summary = job.object_summary() or {}
    failed = summary.get("by_status", {}).get(JobObject.Status.FAILED, 0)
    return Counts(job.objects_done, job.objects_total, failed, job.bytes_done, job.bytes_total)


def event_id(job_id, event_type: str = JOB_ENDED) -> uuid.UUID:
    """The same for every hook and every run of the task: receivers may de-duplicate by it."""
    return uuid.uuid5(uuid.UUID(str(job_id)), event_type)


def _time(value) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def job_ended_event(job: Job) -> dict:
    """The webhook's JSON event for a job's end (docs/notifications.md shows one)."""
    counts = counts_of(job)
    error = {"type": job.error_type, "message": job.error_message} if job.error_type else None
    return {
        "id": str(event_id(job.pk)),
        "type": JOB_ENDED,
        "createdAt": _time(job.finished_at),
        "job": {
            "id": str(job.pk),
            "status": job.status,
            "shareType": job.share_type,
            "dryrun": job.dryrun,
            "destination": job.destination or None,
            "recipientId": job.config.get("recipientId") or None,
            "purpose": job.config.get("purpose") or None,
            "launchedBy": job.created_by.get_username(),
            "objects": {
                "done": counts.objects_done,
                "total": counts.objects_total,
                "failed": counts.objects_failed,
            },
            "bytes": {"done": counts.bytes_done, "total": counts.bytes_total},
            "error": error,
            "createdAt": _time(job.created_at),
            "startedAt": _time(job.started_at),
            "finishedAt": _time(job.finished_at),
            "linksExpireAt": _time(job.links_expire_at),
            "url": console_page(job),
            "apiUrl": api_page(job),
        },
    }


def event_body(event: dict) -> str:
    """The exact text that is signed and sent: compact JSON, keys in a fixed order."""
    return json.dumps(event, separators=(",", ":"))
