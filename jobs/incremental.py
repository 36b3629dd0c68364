"""Incremental shares (onlyNewSinceLastShare): leave out what the recipient has received.

An object is received when an earlier job for the same recipient delivered it
(JobObjectQuerySet.delivered_to: the job SUCCEEDED, was not a dry run, and the object is
COPIED, SKIPPED as identical at the destination, or PRESIGNED), whatever that job's
configuration. It is the same object when the source URI is the same and either the ETag is
the same or both sides know the same MD5 or SHA-256; an object changed since (a new ETag, no
matching checksum) is shared again.

Applied a page at a time where a resolution is recorded (jobs.manifest.record_resolution):
one query per page for that page's source URIs among the recipient's delivered objects (the
jobobject_source index), one insert of the page's left-out objects; never the
recipient's history in memory. Left-out objects are recorded (LeftOutObject, once per source)
and counted by the database at the end into the job's `left_out`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Sum

from jobs.models import Delivery, Job, JobObject, LeftOut, LeftOutObject
from shares.resolve import ManifestEntry
from sharing_project.s3.uris import etag_md5


@dataclass(frozen=True)
class Received:
    """One earlier delivery of a source object to the recipient."""

    etag: str
    md5: str
    sha256: str
    job_id: str
    finished_at: datetime | None

    def is_of(self, entry: ManifestEntry) -> bool:
        """The same bytes as `entry` (of the same source URI): the same ETag, or the same MD5
        or SHA-256 where both sides know one."""
        if self.etag and self.etag == entry.etag:
            return True
        md5 = entry.md5 or etag_md5(entry.etag) or ""
        return bool((md5 and self.md5 == md5) or (entry.sha256 and self.sha256 == entry.sha256))


class PageDeliveries:
    """The earlier deliveries of one page's source URIs (one query), and what it left out."""

    def __init__(self, received: dict[str, list[Received]]):
        self.received = received
        self.left_out: list[tuple[ManifestEntry, str]] = []

    def new(self, entries: list[ManifestEntry]) -> list[ManifestEntry]:
        """The entries the recipient has not received; the others are kept in `left_out`
        with the latest job that delivered them."""
        if not self.received:
            return entries
        kept = []
        for entry in entries:
            job_id = self.delivered_by(entry)
            if job_id is None:
                kept.append(entry)
            else:
                self.left_out.append((entry, job_id))
        return kept

    def delivered_by(self, entry: ManifestEntry) -> str | None:
        matches = [r for r in self.received.get(entry.source_uri, ()) if r.is_of(entry)]
        if not matches:
            return None
        latest = max(matches, key=lambda r: (r.finished_at is not None, r.finished_at, r.job_id))
        return latest.job_id


class Incremental:
    """What an incremental job leaves out as its resolution is recorded, page by page."""

    def __init__(self, job: Job):
        self.job = job

    @classmethod
    def for_job(cls, job: Job) -> Incremental | None:
        """For a share with onlyNewSinceLastShare (which validation lets through only with a
        recipient), else None."""
        if job.config.get("onlyNewSinceLastShare") and job.recipient_id:
            return cls(job)
        return None

    def look_up(self, entries: Iterable[ManifestEntry]) -> PageDeliveries:
        """The recipient's deliveries of these entries' sources: one query."""
        received: dict[str, list[Received]] = {}
        rows = self.look_up_query(sorted({entry.source_uri for entry in entries}))
        for uri, etag, md5, sha256, job_id, finished_at in rows:
            received.setdefault(uri, []).append(
                Received(etag, md5, sha256, str(job_id), finished_at)
            )
        return PageDeliveries(received)

    def look_up_query(self, uris: list[str]):
        """Deliveries of these sources to the recipient, as rows for `Received`; unordered.

        The sources' delivered objects are found first, by their index (jobobject_source), in
        a subquery of their own: written as one condition beside the recipient's jobs, SQLite
        without statistics (Django never runs ANALYZE) starts from the jobs instead, reading
        every object the recipient has received, for every page."""
        sources = JobObject.objects.filter(
            source_uri__in=uris, status__in=JobObject.DELIVERED_STATUSES
        ).values("pk")
        return (
            JobObject.objects.delivered_to(self.job.recipient_id)
            .filter(pk__in=sources)
            .values_list("source_uri", "etag", "md5", "sha256", "job_id", "job__finished_at")
            .order_by()
        )

    def record(self, page: PageDeliveries) -> None:
        """Record a page's left-out objects: one insert; a source that comes twice (a fastq
        also under a workflow run's output prefix) is recorded once."""
        if page.left_out:
            LeftOutObject.objects.bulk_create(
                [
                    LeftOutObject(
                        job=self.job,
                        source_uri=entry.source_uri,
                        relative_path=entry.relative_path,
                        size=entry.size,
                        etag=entry.etag,
                        received_in_id=job_id,
                    )
                    for entry, job_id in page.left_out
                ],
                ignore_conflicts=True,
            )

    def finish(self) -> LeftOut:
        """Count what was left out (one grouped query), keep it on the job and log it."""
        summary = left_out_of(self.job)
        Job.objects.filter(pk=self.job.pk).update(left_out=summary.to_stored())
        self.job.left_out = summary.to_stored()
        self.job.log(left_out_message(summary))
        return summary


def left_out_of(job: Job) -> LeftOut:
    """The job's left-out objects counted by the job that delivered them, most first."""
    rows = list(
        LeftOutObject.objects.filter(job=job)
        .values_list("received_in_id")
        .annotate(n=Count("pk"), size=Sum("size"))
        .order_by("-n", "received_in_id")
    )
    deliveries = tuple(
        Delivery(str(job_id), n, size or 0) for job_id, n, size in rows[: LeftOut.JOBS_KEPT]
    )
    return LeftOut(
        recipient_id=job.config["recipientId"],
        objects=sum(n for _job, n, _size in rows),
        bytes=sum(size or 0 for _job, _n, size in rows),
        job_count=len(rows),
        jobs=deliveries,
    )


def forget_left_out(job: Job) -> None:
    """Remove what was recorded as left out (a resolution that failed or was aborted)."""
    LeftOutObject.objects.filter(job=job).delete()
    Job.objects.filter(pk=job.pk).update(left_out=None)
    job.left_out = None


def left_out_message(summary: LeftOut) -> str:
    """One line for the job's log: how much was left out, and which jobs delivered it."""
    if not summary.objects:
        return (
            f"Only new since the last share: {summary.recipient_id} has received none of these "
            "objects before; nothing left out."
        )
    shown = ", ".join(f"{d.objects} by job {d.job_id}" for d in summary.jobs[:10])
    more = summary.job_count - min(len(summary.jobs), 10)
    others = f" and {more} more job(s)" if more > 0 else ""
    return (
        f"Only new since the last share: left out {summary.objects} object(s), "
        f"{summary.bytes} bytes, that {summary.recipient_id} has received already "
        f"({shown}{others})."
    )


def nothing_new_message(summary: LeftOut) -> str:
    return (
        f"Nothing new to share: {summary.recipient_id} has received every object of this "
        f"selection already ({summary.objects} object(s), {summary.bytes} bytes)."
    )
