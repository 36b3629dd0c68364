"""Push: copy a job's frozen manifest (its dry run's) to the destination, resumably.

A job moves through these steps, each safe to repeat:

1. `execute_push` (the job's first task): take the manifest (copy the dry run's objects into
   the job, inside the database, unless it has them already), check the destination can be
   written (a marker is written and removed), refuse or restore archived objects, skip objects
   already at the destination with the same size and ETag (one listing), then queue one task
   per batch of objects but the first, which it copies itself, so several workers on several
   machines share a large push.
2. `push_batch` (one task per batch): claim the batch's PENDING objects (a claim is a token
   and a lease on each object, taken by one UPDATE, so a batch delivered twice, or queued again
   by the sweeper, never copies an object another worker holds), copy them in a thread pool,
   recording each outcome as it completes (in short batches of writes) while a heartbeat renews
   the claims and the job's lease; when abort is asked, start nothing new and mark the rest
   CANCELLED. Then adopt the objects whose claims ran out (a worker died holding them).
   A write that finds the database gone is retried until it is back (`JOB_DB_WAIT_SECONDS`).
3. `finalize` (whoever completes the last object): verify every copy against one listing of
   the destination, write lims.csv at the destination root, and end the job.

A worker that dies leaves its objects PENDING under claims that run out, and the job's lease
with them; `sweep` (a django-q2 schedule, and every worker as it starts) then queues the
job's PENDING objects again.
"""

from __future__ import annotations

import logging
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TypeVar

from django.conf import settings
from django.db import InterfaceError, OperationalError, connection, transaction
from django.db.models import Count, F, Max, Q, Sum, Window
from django.db.models.functions import RowNumber
from django.utils import timezone
from django_q.models import OrmQ
from django_q.tasks import async_task

from jobs.archive import refuse_archived
from jobs.lims import lims_rows, render_lims_csv
from jobs.manifest import copy_manifest, manifest_entries, pages_by_position
from jobs.models import Job, JobObject, JobStatus, ShareType
from jobs.runner import CONTINUES, execute
from jobs.script import ChecksumLists, ScriptEntry
from jobs.targets import Icav2Target, S3Target, target_for
from jobs.verify import prove
from sharing_project.errors import CopyFailed, DestinationNotWritable
from sharing_project.s3.archive import is_archived
from sharing_project.s3.checksums import full_object_checksum
from sharing_project.s3.copy import CopyOptions
from sharing_project.s3.objects import (
    error_code,
    is_checksum_mismatch,
    is_permanent,
    write_refusal,
)
from sharing_project.s3.presign import Presigner
from sharing_project.s3.uris import ARCHIVABLE_STORAGE_CLASSES, single_part_etags

logger = logging.getLogger(__name__)

FLUSH_SECONDS = 0.5
OBJECT_ATTEMPTS = 3
VERIFY_PAGE = 2000  # objects read at a time to verify them and list their checksums
DONE = (JobObject.Status.COPIED, JobObject.Status.SKIPPED, JobObject.Status.FAILED)
PENDING = JobObject.Status.PENDING
# The database errors of a lost connection (a restart, a failover, a dropped socket): a step
# that meets one waits for the database and is done again.
CONNECTION_ERRORS = (OperationalError, InterfaceError)
T = TypeVar("T")


Target = S3Target | Icav2Target


@dataclass(frozen=True)
class Batch:
    first: int  # positions, inclusive
    last: int


# --- step 1 -----------------------------------------------------------------------------------


def execute_push(job: Job) -> str | None:
    """The job's first task: take the manifest, checks, skip what is there already, then
    queue the batches."""
    job.renew_lease(settings.JOB_LEASE_SECONDS)
    waiting_for_database(take_manifest, job)
    target = target_for(job.destination)
    marker = check_writable(job, target)
    # The marker is written: the destination takes writes. Its removal and the archive
    # check's HEADs run side by side; a marker that cannot be removed still fails the job
    # before any copy. Then one listing of the destination, walked beside the objects, skips
    # what is there already.
    pending = JobObject.objects.filter(job=job, status=JobObject.Status.PENDING)
    with ThreadPoolExecutor(max_workers=1) as pool:
        removed = pool.submit(remove_marker, job, target, marker)
        candidates = _with_archive_state(pending)
        removed.result()
    job.log(f"{job.destination} is writable.")
    refuse_archived(
        manifest_entries(candidates), defrost=job.config.get("defrostArchivedFastqs", False)
    )
    skipped = skip_identical(job, target)
    if skipped:
        job.log(f"{skipped} object(s) already at the destination, identical: skipped.")
    save_progress(job)
    return dispatch(job)


def take_manifest(job: Job) -> bool:
    """Give the push its dry run's objects, in a fresh state, with their totals: one
    INSERT ... SELECT and one update in one transaction, done by the worker, not by the launch
    (which then costs the same whatever the dry run's size). A job that has objects already
    (resumed, or its first task delivered twice) keeps them. True if it copied them."""
    if job.source_dry_run_id is None:
        return False
    with transaction.atomic():
        # The job's row lock makes a second caller wait, then find the objects there.
        Job.objects.select_for_update().filter(pk=job.pk).values_list("pk").first()
        if JobObject.objects.filter(job=job).exists():
            return False
        copy_manifest(job.source_dry_run.job, job)
    return True


def check_writable(job: Job, target: Target) -> str:
    """Write a small marker at the destination before copying anything; return its URI
    (`remove_marker` removes it)."""
    try:
        return target.put(
            f".dsm-write-check-{job.pk}",
            b"Data Sharing Manager write check; safe to delete.\n",
            "text/plain",
        )
    except Exception as error:
        raise _not_writable(job, error) from None


def remove_marker(job: Job, target: Target, marker: str) -> None:
    """Remove the write check's marker (S3 only, no database: it runs in a thread)."""
    try:
        target.delete(marker)
    except Exception as error:
        raise _not_writable(job, error) from None


def _not_writable(job: Job, error: Exception) -> DestinationNotWritable:
    return DestinationNotWritable(
        f"Cannot write to {job.destination}: {write_refusal(error)}. Nothing was copied.",
        {"destination": job.destination, "code": error_code(error)},
    )


def _with_archive_state(objects) -> list[JobObject]:
    """The objects, with `archived` refreshed by a HEAD of those in an archivable class."""
    candidates = list(objects.filter(storage_class__in=ARCHIVABLE_STORAGE_CLASSES))
    if not candidates:
        return candidates
    with ThreadPoolExecutor(max_workers=8) as pool:
        for item, archived in zip(
            candidates, pool.map(lambda o: is_archived(o.source_uri), candidates), strict=True
        ):
            item.archived = archived
    return candidates


def skip_identical(job: Job, target: Target, among: list[int] | None = None) -> int:
    """Mark SKIPPED the PENDING objects (of the pks `among`, else all) already at the
    destination with the same content (`identical_at_destination`): one listing of the
    destination, not one HEAD per object."""
    pending = JobObject.objects.filter(job=job, status=JobObject.Status.PENDING)
    if among is not None:
        pending = pending.filter(pk__in=among)
    skipped = 0
    for identical, _different in identical_at_destination(
        pending, target.listed(), target.etags_comparable
    ):
        if identical:
            JobObject.objects.filter(pk__in=identical).update(status=JobObject.Status.SKIPPED)
            skipped += len(identical)
    return skipped


Listing = Iterator[tuple[str, int, str]]  # (destination URI, size, ETag) in key order


def beside_listing(
    objects, listing: Listing, *, every_object: bool = True
) -> Iterator[list[tuple[JobObject, tuple[int, str] | None]]]:
    """Pages of the objects in position order, each object with the (size, ETag) the
    destination's listing holds at its URI, or None. The listing (key order, which is
    relative-path order, hence position order) is walked beside them, so neither is held
    whole. Without `every_object`, the walk ends where the listing does."""
    here = next(listing, None)
    if here is None and not every_object:
        return
    for page in pages_by_position(objects, VERIFY_PAGE):
        found = []
        for item in page:
            while here is not None and here[0] < item.destination_uri:
                here = next(listing, None)
            there = here[1:] if here is not None and here[0] == item.destination_uri else None
            found.append((item, there))
        yield found
        if here is None and not every_object:
            return


def identical_at_destination(
    objects, listing: Listing, etags_comparable: bool
) -> Iterator[tuple[list[int], list[int]]]:
    """Page by page (`beside_listing`, as far as the listing goes: a fresh destination asks
    nothing of the objects): the pks of the objects whose destination already holds their
    bytes, and of those the destination holds other content for. The same bytes: the same
    size and either the source's own ETag (an MD5, or the ETag of the same parts; not where
    the destination's ETags are the storage's own, as on ICAv2) or the ETag an earlier
    verified copy of this source got there (a copy in parts, a streamed copy). A same-size
    object with another ETag has other bytes, or bytes this service cannot vouch for: it is
    copied."""

    def own_etag(item: JobObject, found: tuple[int, str]) -> bool:
        return etags_comparable and found[1] == item.etag

    fields = ("pk", "position", "destination_uri", "size", "etag")
    for page in beside_listing(objects.only(*fields), listing, every_object=False):
        there = [(o, found) for o, found in page if found is not None]
        same_size = [(o, found) for o, found in there if found[0] == o.size]
        copied_before = _copied_before(
            [o.destination_uri for o, found in same_size if not own_etag(o, found)]
        )
        identical = [
            o.pk
            for o, found in same_size
            if own_etag(o, found) or (o.destination_uri, o.etag, found[1]) in copied_before
        ]
        kept = set(identical)
        yield identical, [o.pk for o, _found in there if o.pk not in kept]


def _copied_before(uris: list[str]) -> set[tuple[str, str, str]]:
    """(destination, source ETag, copy ETag) of earlier verified copies to these destinations
    whose ETag differs from the source's: an object there with that ETag is the one a push
    wrote from that source and proved equal to it."""
    found: set[tuple[str, str, str]] = set()
    for start in range(0, len(uris), 1000):
        found.update(
            JobObject.objects.filter(
                destination_uri__in=uris[start : start + 1000], status=JobObject.Status.COPIED
            )
            .exclude(destination_etag="")
            .values_list("destination_uri", "etag", "destination_etag")
        )
    return found


def dispatch(job: Job, copy_first: bool = True) -> str | None:
    """Queue a task per batch of PENDING objects; finish at once when none is left.

    The batches' bounds come from the database (`batch_bounds`), never the positions
    themselves, so a push of any size costs this process the same memory. With `copy_first`
    the first batch is copied by this task: one hand-over through the queue fewer (each waits
    up to the workers' poll, Q_CLUSTER_POLL_MS)."""
    pending = JobObject.objects.filter(job=job, status=PENDING)
    count = pending.count()
    if not count:
        return finalize(job)
    # Read whole before queuing: the ORM broker may close this connection as it enqueues.
    # (One pair of bounds per batch: memory grows with the push / PUSH_BATCH_SIZE only.)
    first, *batches = batch_bounds(job)
    job.log(f"Copying {count} object(s) in {-(-count // settings.PUSH_BATCH_SIZE)} batch(es).")
    for batch in batches if copy_first else [first, *batches]:
        async_task(
            "jobs.tasks.push_batch",
            str(job.pk),
            batch.first,
            batch.last,
            task_name=f"push-{job.pk}-{batch.first}",
        )
    return copy_batch(job, first) if copy_first else CONTINUES


def batch_bounds(job: Job):
    """The job's PENDING objects cut into runs of PUSH_BATCH_SIZE by position: the database
    numbers them (a window function) and returns every PUSH_BATCH_SIZE-th position only."""
    pending = JobObject.objects.filter(job=job, status=PENDING)
    starts = (
        pending.annotate(n=Window(RowNumber(), order_by=F("position").asc()))
        .annotate(offset=(F("n") - 1) % settings.PUSH_BATCH_SIZE)
        .filter(offset=0)
        .order_by("position")
        .values_list("position", flat=True)
    )
    first = None
    for start in starts.iterator(chunk_size=2000):
        if first is not None:
            yield Batch(first, start - 1)
        first = start
    if first is not None:
        yield Batch(first, pending.aggregate(last=Max("position"))["last"])


# --- step 2 -----------------------------------------------------------------------------------


def push_batch(job_id: str, first: int, last: int) -> str:
    job = waiting_for_database(Job.objects.select_related("share_request").filter(pk=job_id).first)
    if job is None or job.status != JobStatus.RUNNING:
        return job.status if job else "MISSING"
    return execute(job, lambda j: copy_batch(j, Batch(first, last)))


def copy_batch(job: Job, batch: Batch) -> str | None:
    """Claim and copy the batch's PENDING objects, then adopt any left by a dead worker;
    finish the job if this was the last of its work."""
    options = CopyOptions(
        multipart_threshold=settings.PUSH_MULTIPART_THRESHOLD,
        part_size=settings.PUSH_PART_SIZE,
        storage_class=settings.PUSH_STORAGE_CLASS,
        bucket_owner_full_control=settings.PUSH_BUCKET_OWNER_FULL_CONTROL,
    )
    target = target_for(job.destination)
    token = uuid.uuid4().hex
    in_batch = Q(position__gte=batch.first, position__lte=batch.last)
    with _Heartbeat(job, token):
        todo = waiting_for_database(claim, job, token, in_batch)
        _copy_all(job, token, todo, options, target)
        # Objects whose claims ran out: their worker died (or lost the database for longer
        # than a lease). This worker is free and the job's: it copies them now.
        tried = {item.pk for item in todo}
        while not waiting_for_database(job.abort_was_requested):
            orphans = Q(claimed_until__lt=timezone.now())
            todo = [
                o for o in waiting_for_database(claim, job, token, orphans) if o.pk not in tried
            ]
            if not todo:
                break
            tried.update(item.pk for item in todo)
            # What the dead worker copied but had not recorded is there already.
            pks = [item.pk for item in todo]
            waiting_for_database(skip_identical, job, target, among=pks)
            todo = waiting_for_database(list, claim_held(token).filter(pk__in=pks))
            job.log(
                f"Copying {len(todo)} object(s) that a stopped worker held (of {len(pks)}; "
                "the others it had copied).",
                level="WARNING",
            )
            _copy_all(job, token, todo, options, target)
    if waiting_for_database(JobObject.objects.filter(job=job, status=PENDING).exists):
        waiting_for_database(release_lease, job)
        return CONTINUES
    return finalize(job)


def claim(job: Job, token: str, which: Q) -> list[JobObject]:
    """Claim `which` of the job's PENDING objects that no live claim holds (at most
    PUSH_BATCH_SIZE of them) for this batch, and return them.

    One UPDATE takes them: of two workers claiming the same objects at once, the database lets
    one update them and the other, once it sees the first's claims, finds nothing left."""
    now = timezone.now()
    free = Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)
    candidates = (
        JobObject.objects.filter(which, free, job=job, status=PENDING)
        .order_by("position")
        .values("pk")[: settings.PUSH_BATCH_SIZE]
    )
    JobObject.objects.filter(free, pk__in=candidates, status=PENDING).update(
        claimed_by=token, claimed_until=now + timedelta(seconds=settings.JOB_LEASE_SECONDS)
    )
    return list(claim_held(token).filter(job=job))


def claim_held(token: str):
    """The PENDING objects a batch's claims hold, in order."""
    return JobObject.objects.filter(status=PENDING, claimed_by=token).order_by("position")


def release_lease(job: Job) -> None:
    """A batch that ends with objects still PENDING leaves the job's lease at the end of the
    last live claim (another worker still copies, or a dead one's claims run out then), or
    ends it now when nothing holds a claim (the work left sits in batches that no live worker
    may ever start): either way the sweeper resumes the job as soon as nobody works on it,
    not one lease after this batch. A worker that renewed the lease meanwhile keeps it."""
    lease = Job.objects.filter(pk=job.pk).values_list("lease_expires_at", flat=True).first()
    now = timezone.now()
    held = JobObject.objects.filter(job=job, status=PENDING, claimed_until__gt=now).aggregate(
        until=Max("claimed_until")
    )["until"]
    Job.objects.filter(pk=job.pk, status=JobStatus.RUNNING, lease_expires_at=lease).update(
        lease_expires_at=held or now
    )


def waiting_for_database(step: Callable[..., T], *args, **kwargs) -> T:
    """Do a database step; when the connection is lost (the server restarts, fails over, or
    ends it), close it and do the step again, waiting longer each time (0.5 s doubling to
    5 s), for up to JOB_DB_WAIT_SECONDS: a push outlives a database outage instead of dying
    with it. Steps are safe to repeat (guarded updates, reads). Inside a transaction the error
    is raised: the transaction is lost with its connection."""
    deadline = time.monotonic() + settings.JOB_DB_WAIT_SECONDS
    delay = 0.5
    while True:
        try:
            return step(*args, **kwargs)
        except CONNECTION_ERRORS as error:
            if connection.in_atomic_block or time.monotonic() >= deadline:
                raise
            logger.warning("database unavailable (%s); trying again in %.1f s", error, delay)
            connection.close()
            time.sleep(delay)
            delay = min(2 * delay, 5.0)


def _copy_all(
    job: Job, token: str, todo: list[JobObject], options: CopyOptions, target: Target
) -> None:
    results: list[tuple[JobObject, str]] = []  # (object, "" or the error)
    aborted = waiting_for_database(job.abort_was_requested)  # asked before this batch started
    last_flush = time.monotonic()
    with ThreadPoolExecutor(max_workers=settings.PUSH_THREADS) as pool:
        running: set[Future] = set()
        queue = iter(todo)
        while True:
            while not aborted and len(running) < 2 * settings.PUSH_THREADS:
                item = next(queue, None)
                if item is None:
                    break
                running.add(pool.submit(_copy_one, item, options, target))
            if not running:
                break
            finished, running = wait(running, timeout=FLUSH_SECONDS, return_when=FIRST_COMPLETED)
            results += [future.result() for future in finished]
            if time.monotonic() - last_flush >= FLUSH_SECONDS:
                lost = _flush(job, token, results)
                if lost:  # the database was gone: keep only what this batch still holds
                    queue = iter(waiting_for_database(_still_held, token, list(queue)))
                results, last_flush = [], time.monotonic()
                aborted = aborted or waiting_for_database(job.abort_was_requested)
    _flush(job, token, results)
    if aborted or waiting_for_database(job.abort_was_requested):
        waiting_for_database(_cancel, job, token)


def _flush(job: Job, token: str, results: list[tuple[JobObject, str]]) -> bool:
    """Record the outcomes, waiting for the database if need be; True if it had to wait."""
    try:
        _record(job, results)
    except CONNECTION_ERRORS:
        if connection.in_atomic_block:
            raise
        connection.close()
        waiting_for_database(_record, job, results)
        return True
    return False


def _still_held(token: str, items: list[JobObject]) -> list[JobObject]:
    """The items this batch still claims: after a long outage, its claims may have run out
    and been taken by another worker, which copies those."""
    held = set(
        JobObject.objects.filter(
            pk__in=[item.pk for item in items], claimed_by=token, status=PENDING
        ).values_list("pk", flat=True)
    )
    return [item for item in items if item.pk in held]


def _cancel(job: Job, token: str) -> None:
    """After an abort: mark CANCELLED the PENDING objects not held by another live batch
    (each batch cancels its own), and update the progress."""
    live_elsewhere = Q(claimed_until__gte=timezone.now()) & ~Q(claimed_by=token)
    JobObject.objects.filter(job=job, status=PENDING).exclude(live_elsewhere).update(
        status=JobObject.Status.CANCELLED
    )
    save_progress(job)


def _copy_one(item: JobObject, options: CopyOptions, target: Target) -> tuple[JobObject, str]:
    """Copy one object, retrying it as a whole after botocore's own retries give up, and
    prove the copy equal to its source (jobs.verify); a copy that differs is not retried."""
    for attempt in range(1, OBJECT_ATTEMPTS + 1):
        try:
            copied = target.copy(item, options)
            proof = prove(
                item,
                copied,
                etag_is_md5=target.etags_comparable,
                source_checksum=lambda: full_object_checksum(item.source_uri),
                read_copy=lambda: target.read(item.destination_uri),
            )
        except Exception as error:
            if attempt == OBJECT_ATTEMPTS or is_permanent(error):
                mismatch = "checksum mismatch: " if is_checksum_mismatch(error) else ""
                return item, f"{mismatch}{type(error).__name__}: {error}"
            time.sleep(0.2 * 2**attempt)
            continue
        item.verified_by = proof.by
        if copied.etag != item.etag or not target.etags_comparable:
            item.destination_etag = copied.etag  # how a later push recognises this copy
        return item, proof.problem
    raise AssertionError("unreachable")


def _record(job: Job, results: list[tuple[JobObject, str]]) -> None:
    """Write the outcomes: copied ones in one update per way of verifying (nearly always
    one), failed and differing ones each with its error, new ETags of copies in parts."""
    by_proof: dict[str, list[int]] = {}
    for item, error in results:
        if not error:
            by_proof.setdefault(item.verified_by, []).append(item.pk)
    for verified_by, copied in by_proof.items():
        for start in range(0, len(copied), 1000):
            JobObject.objects.filter(
                pk__in=copied[start : start + 1000], status=JobObject.Status.PENDING
            ).update(status=JobObject.Status.COPIED, verified_by=verified_by)
    for item, error in results:
        if error:
            JobObject.objects.filter(pk=item.pk, status=JobObject.Status.PENDING).update(
                status=JobObject.Status.FAILED, error=error[:2000], verified_by=item.verified_by
            )
        elif item.destination_etag:  # a copy with an ETag of its own (in parts, ICAv2)
            JobObject.objects.filter(pk=item.pk).update(destination_etag=item.destination_etag)
    if results:
        save_progress(job)
        job.renew_lease(settings.JOB_LEASE_SECONDS)


def save_progress(job: Job) -> None:
    """Progress from the objects themselves, so repeated or racing work never counts twice."""
    done = JobObject.objects.filter(job=job, status__in=DONE).aggregate(
        objects=Count("pk"), size=Sum("size")
    )
    Job.objects.filter(pk=job.pk).update(objects_done=done["objects"], bytes_done=done["size"] or 0)


class _Heartbeat:
    """Renews the job's lease and the batch's claims (if it has a claim token) from a thread
    while a batch works (a big copy can be slow) or the job is finished (verification reads a
    listing as long as the share), every third of a lease; a renewal that finds the database
    gone is tried again at the next beat, on a new connection."""

    def __init__(self, job: Job, token: str | None = None):
        self.job = job
        self.token = token
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._beat, daemon=True)

    def __enter__(self) -> _Heartbeat:
        waiting_for_database(self.job.renew_lease, settings.JOB_LEASE_SECONDS)
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join()

    def _beat(self) -> None:
        try:
            while not self.stop.wait(settings.JOB_LEASE_SECONDS / 3):
                try:
                    self.renew()
                except CONNECTION_ERRORS as error:
                    logger.warning("could not renew the lease of job %s: %s", self.job.pk, error)
                    connection.close()
        finally:
            connection.close()

    def renew(self) -> None:
        until = timezone.now() + timedelta(seconds=settings.JOB_LEASE_SECONDS)
        if self.token:
            JobObject.objects.filter(claimed_by=self.token, status=PENDING).update(
                claimed_until=until
            )
        Job.objects.filter(pk=self.job.pk, status=JobStatus.RUNNING).update(lease_expires_at=until)


# --- step 3 -----------------------------------------------------------------------------------


def finalize(job: Job) -> str | None:
    """Verify, write lims.csv, end the job; only one caller gets past the first line."""
    if not job.start_finalizing():
        return CONTINUES
    if job.abort_was_requested():
        save_progress(job)
        return None  # the runner ends it ABORTED; what was copied is recorded
    target = target_for(job.destination)
    # The link signer (S3 work, no database) is made in a thread while this one reads the
    # lims.csv rows and verifies the copies; lims.csv is written once they are verified. The
    # lease is held throughout: verifying 300,000 objects takes minutes, and a lease left to
    # run out would have the sweeper take this live worker for a dead one and finish the job
    # a second time beside it.
    with _Heartbeat(job), ThreadPoolExecutor(max_workers=1) as pool:
        signer = pool.submit(target.presigner)
        lims_csv = render_lims_csv(lims_rows(job)).encode()
        verify(job, target)
        failed = list(
            JobObject.objects.filter(job=job, status=JobObject.Status.FAILED).values(
                "relative_path", "error"
            )[:100]
        )
        if failed:
            raise CopyFailed(
                f"{JobObject.objects.filter(job=job, status=JobObject.Status.FAILED).count()} "
                "object(s) could not be copied or verified; the others were. Launch the push "
                "again to retry them (what is already there is skipped).",
                {"objects": failed},
            )
        write_checksum_lists(job, target)
        write_lims_csv(job, target, lims_csv, signer.result())
    return None


def write_checksum_lists(job: Job, target: Target) -> None:
    """checksums.md5 and checksums.sha256 at the destination root, beside lims.csv, with a
    line for every object there (copied or skipped) whose MD5 or SHA-256 is known: the
    collaborator runs `md5sum -c checksums.md5` from the root. Written a page of objects at a
    time to local files, uploaded in parts when big."""
    shared = JobObject.objects.filter(
        job=job, status__in=(JobObject.Status.COPIED, JobObject.Status.SKIPPED)
    )
    with tempfile.TemporaryDirectory(prefix="dsm-push-") as folder:
        with ChecksumLists(Path(folder)) as lists:
            for page in pages_by_position(shared, VERIFY_PAGE):
                lists.add(
                    ScriptEntry(o.relative_path, "", o.size, md5=o.md5, sha256=o.sha256)
                    for o in page
                )
        written = [
            target.upload(name, path, "text/plain") for name, path in lists.written().items()
        ]
    if written:
        job.log(f"Wrote {', '.join(written)}.")


def verify(job: Job, target: Target) -> None:
    """Compare every copied object with one listing of the destination walked beside them
    (`beside_listing`): size always, ETag where both are single-part MD5s (a copy in parts
    has an ETag of its own)."""
    copied = JobObject.objects.filter(job=job, status=JobObject.Status.COPIED)
    for page in beside_listing(copied, target.listed()):
        for item, found in page:
            problem = _copy_problem(item, found, target)
            if problem:
                JobObject.objects.filter(pk=item.pk).update(
                    status=JobObject.Status.FAILED, error=problem
                )
    save_progress(job)
    proofs = (
        JobObject.objects.filter(job=job, status=JobObject.Status.COPIED)
        .values_list("verified_by")
        .annotate(n=Count("pk"))
        .order_by("verified_by")
    )
    proven = ", ".join(f"{n} by {verified_by or 'size'}" for verified_by, n in proofs)
    job.log(f"Verified the copies against the destination ({proven or 'none copied'}).")


def _copy_problem(item: JobObject, found: tuple[int, str] | None, target: Target) -> str:
    """What is wrong with a copy, as the destination's listing shows it, or ""."""
    if found is None:
        return "not found at the destination after the copy"
    size, etag = found
    if size != item.size:
        return f"size {size} at the destination, {item.size} at the source"
    if target.etags_comparable and single_part_etags(item.etag, etag) and etag != item.etag:
        return f"ETag {etag} at the destination, {item.etag} at the source"
    return ""


def write_lims_csv(
    job: Job, target: Target, body: bytes | None = None, signer: Presigner | None = None
) -> None:
    if body is None:
        body = render_lims_csv(lims_rows(job)).encode()
    uri = target.put("lims.csv", body, "text/csv")
    signer = signer or target.presigner()
    Job.objects.filter(pk=job.pk).update(
        lims_csv_uri=uri,
        lims_csv_url=signer.url(target.link_uri(uri)),
        links_expire_at=signer.expires_at,
    )
    job.log(f"Wrote {uri}.")


# --- the sweeper ------------------------------------------------------------------------------


def sweep() -> int:
    """Resume RUNNING pushes whose lease has run out and none of whose batches still wait in
    the queue: their worker died. Returns how many."""
    stale = Job.objects.filter(
        status=JobStatus.RUNNING,
        share_type=ShareType.PUSH,
        dryrun=False,
        lease_expires_at__lt=timezone.now(),
    )
    resumed = 0
    for job in stale.select_related("share_request"):
        claimed = Job.objects.filter(
            pk=job.pk, lease_expires_at=job.lease_expires_at, status=JobStatus.RUNNING
        ).update(lease_expires_at=timezone.now() + timedelta(seconds=settings.JOB_LEASE_SECONDS))
        if not claimed:
            continue  # another sweeper took it
        if batches_waiting(job):
            continue  # a queue backlog, not a dead worker: the claim renewed the lease
        job.log("Its worker stopped renewing the lease: resuming.", level="WARNING")
        execute(job, _resume)
        resumed += 1
    return resumed


def batches_waiting(job: Job) -> bool:
    """True while batches of the job wait in django-q2's ORM queue, taken by no worker yet
    (`lock` in the past): nothing renews the lease of a job whose work is all queued, yet no
    worker of it has died. Other brokers keep no such rows: there the sweeper resumes."""
    prefix = f"push-{job.pk}-"
    waiting = OrmQ.objects.filter(lock__lte=timezone.now()).only("payload")
    return any(str(row.name() or "").startswith(prefix) for row in waiting.iterator())


def _resume(job: Job) -> str | None:
    if job.finalizing:
        Job.objects.filter(pk=job.pk).update(finalizing=False)  # died while finishing
        job.finalizing = False
    take_manifest(job)  # died before its first task had taken it
    skip_identical(job, target_for(job.destination))  # copied by the dead worker, unrecorded
    save_progress(job)
    # Queued, not copied here: the sweep stays short, and every batch claims its objects, so
    # those a live worker still holds are left to it.
    return dispatch(job, copy_first=False)
