"""What a share link's collaborator downloaded, read from its access log and receipts: the
proof the API, the console and the export give custodians.

Every read is an aggregate or a page: a job of 100,000 objects costs a few queries, never one
per object (the access log has an index on (job_object, allowed)).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Exists, Max, Min, OuterRef, Q, QuerySet, Sum

from jobs.models import JobObject
from sharelinks.models import Receipt, ShareAccess, ShareLink

RECENT_ACCESSES = 20


@dataclass(frozen=True)
class DownloadCounts:
    files_total: int  # the job's objects
    files_fetched: int  # objects asked for at least once and allowed
    requests: int  # every request made with the link: files, script, lists, receipt, DRS
    refused: int  # of those, refused (revoked, expired, unknown file, throttled...)


@dataclass(frozen=True)
class ObjectDownloads:
    fetch_count: int = 0  # allowed requests for the object
    first_fetched_at: datetime | None = None
    last_fetched_at: datetime | None = None
    bytes_requested: int = 0  # what those requests asked for (a resumed one: what it lacked)


NOT_FETCHED = ObjectDownloads()


def download_counts(link: ShareLink) -> DownloadCounts:
    """The link's requests, counted in one aggregate query."""
    counts = ShareAccess.objects.filter(share=link).aggregate(
        requests=Count("id"),
        refused=Count("id", filter=Q(allowed=False)),
        fetched=Count("job_object", distinct=True, filter=Q(allowed=True)),
    )
    return DownloadCounts(
        files_total=link.job.objects_total,
        files_fetched=counts["fetched"],
        requests=counts["requests"],
        refused=counts["refused"],
    )


def latest_receipt(link: ShareLink) -> Receipt | None:
    """The last summary a download script sent (Receipt's ordering: newest first)."""
    return link.receipts.first()


def recent_accesses(link: ShareLink, count: int = RECENT_ACCESSES) -> list[ShareAccess]:
    """The link's last `count` requests, newest first."""
    return list(access_log(link).order_by("-at", "-id")[:count])


def access_log(link: ShareLink) -> QuerySet[ShareAccess]:
    """Every request made with the link, oldest first, as the export writes it."""
    return (
        ShareAccess.objects.filter(share=link)
        .select_related("job_object")
        .only(
            "at",
            "resource",
            "via",
            "allowed",
            "status",
            "bytes",
            "client_address",
            "user_agent",
            "job_object__relative_path",
        )
        .order_by("at", "id")
    )


def fetched_filter(objects: QuerySet[JobObject], fetched: bool) -> QuerySet[JobObject]:
    """Only the objects fetched at least once (True), or never (False)."""
    allowed = ShareAccess.objects.filter(job_object=OuterRef("pk"), allowed=True)
    return objects.filter(Exists(allowed) if fetched else ~Exists(allowed))


def object_downloads(objects: Iterable[JobObject]) -> dict[int, ObjectDownloads]:
    """Each object's allowed requests, by object id, in one aggregate query for the whole
    page; an object never fetched is absent (NOT_FETCHED)."""
    rows = (
        ShareAccess.objects.filter(job_object__in=[o.pk for o in objects], allowed=True)
        .values("job_object_id")
        .annotate(count=Count("id"), first=Min("at"), last=Max("at"), bytes_requested=Sum("bytes"))
        .order_by()
    )
    return {
        row["job_object_id"]: ObjectDownloads(
            row["count"], row["first"], row["last"], row["bytes_requested"] or 0
        )
        for row in rows
    }
