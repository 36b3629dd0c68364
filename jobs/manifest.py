"""A job's manifest: its JobObjects, recorded from a resolution as it comes or copied from a
dry run; never held whole in memory."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import asdict, fields

from django.db import IntegrityError, connection, transaction
from django.db.models import Count, F, Sum, Window
from django.db.models.functions import RowNumber

from jobs.incremental import Incremental, forget_left_out
from jobs.models import Job, JobObject, ShareType
from jobs.runner import stop_if_aborted
from shares.checksums import ChecksumSource, find_checksums
from shares.destinations import Destination, parse_destination
from shares.resolve import ManifestEntry
from sharing_project.errors import DuplicateRelativePath

BATCH = 1000
# Objects are recorded at positions from here, in the order they come, then numbered from 0
# in relative-path order: the two ranges never meet, so the numbering is one UPDATE.
_ARRIVAL = 1_000_000_000


def record_resolution(job: Job, pages: Iterable[list[ManifestEntry]], status: str) -> None:
    """Record a resolution's pages (shares.resolve.resolve_pages) as the job's objects, a page
    at a time, each object with its checksum (found or computed: the reads show as the job's
    progress) and its destination URI; checking for an abort between pages. An incremental
    share (jobs.incremental) leaves out, page by page, what its recipient has received. Then,
    in the database: an object that came twice keeps its first place, two objects for one
    relative path refuse the share, and positions number the objects in relative-path order.
    On any error (or an abort) nothing of it is left.
    """
    destination = parse_destination(job.destination) if job.destination else None
    reading = _JobReading(job)
    incremental = Incremental.for_job(job)
    arrived = 0
    try:
        for page in pages:
            if incremental is not None:
                # Objects known to be received by their ETag or a checksum already known are
                # left out before any is read for its checksum; the rest once it is known.
                delivered = incremental.look_up(page)
                page = delivered.new(page)
            page = find_checksums(
                page, for_download=job.share_type == ShareType.PULL, reading=reading
            )
            if incremental is not None:
                page = delivered.new(page)
                incremental.record(delivered)
            _insert(job, list(_rows(job, page, status, destination, _ARRIVAL + arrived)))
            arrived += len(page)
            stop_if_aborted(job)
        _drop_repeated_sources(job)
        _number_by_relative_path(job)
    except BaseException:
        forget_manifest(job)
        raise
    if incremental is not None:
        incremental.finish()
    report_checksums(job)


def forget_manifest(job: Job) -> None:
    """Remove what was recorded of a job's manifest (a resolution that failed), and what it
    left out."""
    JobObject.objects.filter(job=job).delete()
    forget_left_out(job)


def _rows(
    job: Job, page: list[ManifestEntry], status: str, destination: Destination | None, first: int
) -> Iterator[JobObject]:
    for offset, entry in enumerate(page):
        yield JobObject(
            job=job,
            position=first + offset,
            destination_uri=destination.uri_for(entry.relative_path) if destination else "",
            status=status,
            **asdict(entry),
        )


def _insert(job: Job, rows: list[JobObject]) -> None:
    """Insert a page; when a relative path is taken, leave out a repeat of the same object
    and refuse one of another object."""
    try:
        with transaction.atomic():
            JobObject.objects.bulk_create(rows, batch_size=BATCH)
        return
    except IntegrityError:
        pass
    paths = [row.relative_path for row in rows]
    taken = dict(
        JobObject.objects.filter(job=job, relative_path__in=paths).values_list(
            "relative_path", "source_uri"
        )
    )
    fresh, clashes = [], []
    for row in rows:
        source = taken.get(row.relative_path)
        if source is None:
            taken[row.relative_path] = row.source_uri
            fresh.append(row)
        elif source != row.source_uri:
            clashes.append({"relativePath": row.relative_path, "sources": [source, row.source_uri]})
    if clashes:
        raise DuplicateRelativePath(
            f"{len(clashes)} relative path(s) would be written by two different objects; "
            "share them separately.",
            {"clashes": clashes[:100]},
        )
    JobObject.objects.bulk_create(fresh, batch_size=BATCH)


def _drop_repeated_sources(job: Job) -> None:
    """An object listed twice (a fastq under a workflow run's output prefix) is shared once,
    where it came first."""
    ranked = (
        JobObject.objects.filter(job=job)
        .annotate(
            rank=Window(RowNumber(), partition_by=[F("source_uri")], order_by=F("position").asc())
        )
        .filter(rank__gt=1)
        .values_list("pk", flat=True)
    )
    repeated = list(ranked)
    for start in range(0, len(repeated), BATCH):
        JobObject.objects.filter(pk__in=repeated[start : start + BATCH]).delete()


def _number_by_relative_path(job: Job) -> None:
    """Positions 0, 1, ... in relative-path order (by code point, as Python and S3 sort), in
    one statement."""
    quote = connection.ops.quote_name
    table, pk = quote(JobObject._meta.db_table), quote(JobObject._meta.pk.column)
    job_column = quote(JobObject._meta.get_field("job").column)
    collate = ' COLLATE "C"' if connection.vendor == "postgresql" else ""
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET position = ranked.n - 1 FROM ("  # noqa: S608
            f"SELECT {pk}, ROW_NUMBER() OVER (ORDER BY relative_path{collate}) AS n "
            f"FROM {table} WHERE {job_column} = %s) AS ranked "
            f"WHERE {table}.{pk} = ranked.{pk}",
            [JobObject._meta.get_field("job").get_db_prep_value(job.pk, connection)],
        )


def manifest_totals(job: Job) -> tuple[int, int]:
    """How many objects a job's manifest has, and their bytes (one aggregate)."""
    totals = JobObject.objects.filter(job=job).aggregate(count=Count("pk"), size=Sum("size"))
    return totals["count"], totals["size"] or 0


# What a push's object starts with, whatever its dry run's object had: the push's own state.
_FRESH = {
    "status": JobObject.Status.PENDING.value,
    "error": "",
    "destination_etag": "",
    "verified_by": "",
    "at_destination": "",
}


def copy_manifest(source: Job, job: Job) -> None:
    """Give `job` exactly the objects `source` (its dry run) listed, to be sent, and their
    totals: one INSERT ... SELECT inside the database (no row passes through this process).
    The push's worker calls it (jobs.push.take_manifest), in the transaction that counts the
    totals, never the launch.

    The destination URIs are the dry run's: both jobs share one configuration fingerprint,
    which includes the normalised destination.
    """
    copied = [
        field.column
        for field in JobObject._meta.concrete_fields
        if not field.primary_key and field.name != "job" and field.name not in _FRESH
    ]
    job_field = JobObject._meta.get_field("job")
    fresh = [JobObject._meta.get_field(name).column for name in _FRESH]
    quote = connection.ops.quote_name
    table, job_column = quote(JobObject._meta.db_table), quote(job_field.column)
    targets = ", ".join(quote(column) for column in [job_field.column, *fresh, *copied])
    placeholders = ", ".join(["%s"] * (1 + len(fresh)))
    columns = ", ".join(quote(column) for column in copied)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({targets}) SELECT {placeholders}, {columns} "  # noqa: S608
            f"FROM {table} WHERE {job_column} = %s",
            [
                job_field.get_db_prep_value(job.pk, connection),
                *_FRESH.values(),
                job_field.get_db_prep_value(source.pk, connection),
            ],
        )
    totals = job.job_objects.aggregate(count=Count("pk"), size=Sum("size"))
    Job.objects.filter(pk=job.pk).update(
        objects_total=totals["count"], bytes_total=totals["size"] or 0
    )


def pages_by_position(objects, size: int) -> Iterator[list[JobObject]]:
    """Objects (of one job) in position order, `size` at a time, each page found from the
    last position of the one before (so the last page costs what the first does)."""
    after = -1
    while page := list(objects.filter(position__gt=after).order_by("position")[:size]):
        yield page
        after = page[-1].position


def manifest_entries(objects) -> list[ManifestEntry]:
    """JobObjects back as manifest entries (for the archive check)."""
    names = [entry_field.name for entry_field in fields(ManifestEntry)]
    return [ManifestEntry(**{name: getattr(o, name) for name in names}) for o in objects]


class _JobReading:
    """Objects read for their checksums show as the job's progress; an abort stops the reads."""

    def __init__(self, job: Job):
        self.job = job
        self.told = False

    def start(self, count: int, size: int) -> None:
        Job.objects.filter(pk=self.job.pk).update(
            objects_total=F("objects_total") + count, bytes_total=F("bytes_total") + size
        )
        if not self.told:
            self.job.log("Reading objects that have no known checksum, to compute theirs.")
            self.told = True

    def read(self, entries: list[ManifestEntry]) -> None:
        self.job.add_progress(len(entries), sum(entry.size for entry in entries))

    def should_stop(self) -> bool:
        return self.job.abort_was_requested()


def report_checksums(job: Job) -> None:
    """Log how many objects and bytes are verified which way, and warn of the ones verified by
    size only (from the recorded objects: a few grouped queries)."""
    objects = JobObject.objects.filter(job=job)
    labels = dict(ChecksumSource.choices)
    by_source = (
        objects.values_list("checksum_source")
        .annotate(count=Count("pk"), size=Sum("size"))
        .order_by("checksum_source")
    )
    report = "; ".join(
        f"{labels[source]} for {count} object(s) ({size} bytes)"
        for source, count, size in by_source
    )
    job.log(f"Checksums: {report}." if report else "Nothing to verify.")
    size_only = objects.filter(checksum_source=ChecksumSource.SIZE_ONLY).order_by("position")
    first = list(size_only.values_list("source_uri", "checksum_note")[:5])
    if first:
        count = size_only.count()
        shown = ", ".join(uri for uri, _note in first)
        more = f" and {count - 5} more" if count > 5 else ""
        job.log(
            f"{count} object(s) will be verified by size only ({shown}{more}): {first[0][1]}.",
            level="WARNING",
        )
