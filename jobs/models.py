"""Jobs: one launch of a share, its objects and its log."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from django.db import models, transaction
from django.db.models import F
from django.db.models.functions import Coalesce
from django.dispatch import Signal
from django.utils import timezone

from audit.services import record_transition
from shares.checksums import ChecksumSource
from shares.contract import ShareType


class JobStatus(models.TextChoices):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    ABORTED = "ABORTED"


ACTIVE_STATUSES = (JobStatus.PENDING, JobStatus.RUNNING)
TERMINAL_STATUSES = (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.ABORTED)

# Every job event (a status change, a line of the job's log) is also a line of the service's
# own log, with the job's id as a field (`job_id`), for the machines that collect logs.
event_logger = logging.getLogger("jobs.events")

# Sent once per job, by the call that moved it to a final status (`job=` the job, re-read).
# Listeners (notifications) queue their work on commit: never inside the job's transaction,
# and never able to change how the job ended.
job_ended = Signal()


@dataclass(frozen=True)
class Progress:
    objects_done: int
    objects_total: int
    bytes_done: int
    bytes_total: int

    @property
    def percent(self) -> float:
        """Bytes done over bytes total; objects when the share holds no bytes."""
        if self.bytes_total:
            return round(100.0 * self.bytes_done / self.bytes_total, 1)
        if self.objects_total:
            return round(100.0 * self.objects_done / self.objects_total, 1)
        return 0.0


OUTPUT_LABELS = {
    "limsCsv": "LIMS CSV",
    "dataDownloadScript": "Download script",
    "checksums": "Checksums",
}


@dataclass(frozen=True)
class Output:
    """A presigned link a finished share hands out."""

    name: str  # as the API names it
    label: str
    url: str
    s3_uri: str
    expires_at: datetime | None


@dataclass(frozen=True)
class Delivery:
    """Objects an earlier job delivered that an incremental share left out."""

    job_id: str
    objects: int
    bytes: int


@dataclass(frozen=True)
class LeftOut:
    """What an incremental share left out: objects and bytes the recipient had received, and
    the earlier jobs that delivered them (the `JOBS_KEPT` that delivered most; `job_count` of
    them in all)."""

    JOBS_KEPT = 100

    recipient_id: str
    objects: int
    bytes: int
    job_count: int
    jobs: tuple[Delivery, ...]

    def to_stored(self) -> dict:
        return {
            "recipient_id": self.recipient_id,
            "objects": self.objects,
            "bytes": self.bytes,
            "job_count": self.job_count,
            "jobs": [[d.job_id, d.objects, d.bytes] for d in self.jobs],
        }

    @classmethod
    def from_stored(cls, stored: dict) -> LeftOut:
        jobs = tuple(Delivery(job_id, n, size) for job_id, n, size in stored["jobs"])
        return cls(
            stored["recipient_id"], stored["objects"], stored["bytes"], stored["job_count"], jobs
        )


class Job(models.Model):
    """One launch of a share request, run in the background.

    States and the only transitions allowed (each made by a guarded update, so a repeated or
    racing call changes nothing and reports False):

        PENDING -> RUNNING      a worker picks the job up
        PENDING -> ABORTED      aborted before any worker took it
        PENDING -> FAILED       it could not be queued
        RUNNING -> SUCCEEDED    the work finished
        RUNNING -> FAILED       the work raised; the error is recorded
        RUNNING -> ABORTED      abort was requested; the work stopped between steps

    SUCCEEDED, FAILED and ABORTED are final.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    share_request = models.ForeignKey(
        "shares.ShareRequest", on_delete=models.PROTECT, related_name="jobs"
    )
    share_type = models.CharField(max_length=8, choices=ShareType.choices)
    dryrun = models.BooleanField(default=False)
    destination = models.CharField(max_length=1024, blank=True)
    # The dry run whose frozen manifest a push sends.
    source_dry_run = models.ForeignKey(
        "shares.DryRun", on_delete=models.PROTECT, null=True, blank=True, related_name="pushes"
    )
    status = models.CharField(
        max_length=16, choices=JobStatus.choices, default=JobStatus.PENDING, db_index=True
    )
    abort_requested = models.BooleanField(default=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="jobs"
    )
    # Who the share goes to (the configuration's recipientId), kept on the job to find a
    # recipient's shares; the purpose stays in the configuration.
    recipient = models.ForeignKey(
        "recipients.Recipient",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="jobs",
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    task_id = models.CharField(max_length=64, blank=True)
    objects_total = models.PositiveIntegerField(default=0)
    objects_done = models.PositiveIntegerField(default=0)
    bytes_total = models.BigIntegerField(default=0)
    bytes_done = models.BigIntegerField(default=0)
    error_type = models.CharField(max_length=100, blank=True)
    error_message = models.TextField(blank=True)
    error_details = models.JSONField(default=dict, blank=True)
    # Outputs of a pull. The URLs are bearer links: shown to operators and API clients,
    # never written to logs.
    lims_csv_uri = models.CharField(max_length=1024, blank=True)
    lims_csv_url = models.TextField(blank=True)
    download_script_uri = models.CharField(max_length=1024, blank=True)
    download_script_url = models.TextField(blank=True)
    # A pull's checksum list (checksums.md5, or checksums.sha256 where no MD5 is known).
    checksums_uri = models.CharField(max_length=1024, blank=True)
    checksums_url = models.TextField(blank=True)
    links_expire_at = models.DateTimeField(null=True, blank=True)
    # A push's workers renew the lease while they work; the sweeper resumes a RUNNING job
    # whose lease has run out (its worker died). finalizing is set once, by whoever finishes.
    lease_expires_at = models.DateTimeField(null=True, blank=True, db_index=True)
    finalizing = models.BooleanField(default=False)
    # What its objects add up to (JobObjectQuerySet.totals()), counted once it has finished:
    # see object_summary().
    summary = models.JSONField(null=True, blank=True, editable=False)
    # An incremental share (onlyNewSinceLastShare): what its resolution left out because the
    # recipient had received it already (jobs.incremental); a push carries its dry run's.
    # None for any other share.
    left_out = models.JSONField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at"]
        permissions = [
            ("launch_job", "Can launch shares (dry runs, pushes and pulls)"),
            ("abort_job", "Can abort running jobs"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.id} ({self.status})"

    @property
    def kind(self) -> str:
        """What the job does, in words: "push", "pull dry run"..."""
        return f"{self.share_type} dry run" if self.dryrun else self.share_type

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    @property
    def is_finished(self) -> bool:
        return self.status in TERMINAL_STATUSES

    @property
    def ended_badly(self) -> bool:
        """Finished without doing all its work: FAILED or ABORTED."""
        return self.is_finished and self.status != JobStatus.SUCCEEDED

    @property
    def has_links(self) -> bool:
        """A pull that succeeded and handed out links (not one that found nothing new)."""
        return (
            self.share_type == ShareType.PULL
            and not self.dryrun
            and self.status == JobStatus.SUCCEEDED
            and not self.found_nothing_new
        )

    @property
    def links_renewable(self) -> bool:
        """A pull with presigned links can be given fresh ones without resolving again; one
        with a share link needs none (its link lives until it expires or is revoked)."""
        return self.has_links and self.issued_share_link is None

    @property
    def progress(self) -> Progress:
        return Progress(self.objects_done, self.objects_total, self.bytes_done, self.bytes_total)

    @property
    def issued_share_link(self):
        """A pull's share link (sharelinks.ShareLink), when it was given one: PUBLIC_BASE_URL
        was set when its links were made."""
        if self.share_type != ShareType.PULL or self.dryrun:
            return None
        try:
            return self.share_link
        except ObjectDoesNotExist:
            return None

    def outputs(self) -> list[Output]:
        """The links a finished share hands out: the LIMS CSV (pull and push), the download
        script and the checksum list (pull), all dying at `links_expire_at`; through the
        service when the pull has a share link."""
        if self.has_links and (link := self.issued_share_link) is not None:
            return link.outputs()
        links = {
            "limsCsv": (self.lims_csv_url, self.lims_csv_uri),
            "dataDownloadScript": (self.download_script_url, self.download_script_uri),
            "checksums": (self.checksums_url, self.checksums_uri),
        }
        return [
            Output(name, OUTPUT_LABELS[name], url, uri, self.links_expire_at)
            for name, (url, uri) in links.items()
            if url
        ]

    @property
    def links_expired(self) -> bool:
        return bool(self.links_expire_at and self.links_expire_at <= timezone.now())

    @property
    def warnings(self) -> list[str]:
        """The warnings of its log (read from the prefetched log lines when there are some)."""
        return [line.message for line in self.log_lines.all() if line.level == "WARNING"]

    @property
    def blocked_by_archived_objects(self) -> bool:
        """A dry run listing archived objects that are not restored: sharing them fails unless
        the share asks for their restore (defrostArchivedFastqs)."""
        if not self.dryrun or self.config.get("defrostArchivedFastqs"):
            return False
        summary = self.object_summary()
        if summary is not None:
            return summary["archived_count"] > 0
        return self.job_objects.filter(archived=True).exists()

    def object_summary(self) -> dict | None:
        """Its objects' totals (JobObjectQuerySet.totals()), counted once the job has finished
        and kept on the job, so that the admin and the API read them instead of counting a big
        job's objects at every request. None while the job runs: its progress (saved in
        batches) says how far it is. Counted again if work was recorded after the job ended
        (objects_done moved on: a copy in flight when an abort ended a push)."""
        if not self.is_finished:
            return None
        summary = self.summary
        if summary is None or summary.get("objects_done") != self.objects_done:
            totals = self.job_objects.all().totals()
            summary = {**totals, "objects_done": self.objects_done}
            Job.objects.filter(pk=self.pk).update(summary=summary)
            self.summary = summary
        return summary

    def left_out_summary(self) -> LeftOut | None:
        """What an incremental share left out (see `left_out`), or None."""
        return LeftOut.from_stored(self.left_out) if self.left_out is not None else None

    @property
    def found_nothing_new(self) -> bool:
        """An incremental share whose every object the recipient had received already."""
        summary = self.left_out_summary()
        return summary is not None and summary.objects > 0 and self.objects_total == 0

    def vouching_dry_run(self):
        """This dry run's record, if it may still vouch for a push of its configuration."""
        record = getattr(self, "dry_run_record", None) if self.dryrun else None
        return record if record is not None and record.vouches_for_push() else None

    @property
    def config(self) -> dict:
        return self.share_request.config

    def _transition(self, expected: tuple[str, ...], new: str, **fields) -> bool:
        with transaction.atomic():  # a status change and its audit event, together
            changed = Job.objects.filter(pk=self.pk, status__in=expected).update(
                status=new, **fields
            )
            if changed:
                self.refresh_from_db()
                record_transition(self)
        if changed:
            event_logger.info(
                "job %s %s", self.pk, new, extra={"job_id": str(self.pk), "status": new}
            )
            if new in TERMINAL_STATUSES:
                job_ended.send(sender=Job, job=self)
        return bool(changed)

    def mark_running(self) -> bool:
        return self._transition((JobStatus.PENDING,), JobStatus.RUNNING, started_at=timezone.now())

    def mark_succeeded(self) -> bool:
        return self._transition(
            (JobStatus.RUNNING,), JobStatus.SUCCEEDED, finished_at=timezone.now()
        )

    def mark_failed(self, error_type: str, message: str, details: dict | None = None) -> bool:
        return self._transition(
            ACTIVE_STATUSES,
            JobStatus.FAILED,
            finished_at=timezone.now(),
            error_type=error_type,
            error_message=message,
            error_details=details or {},
        )

    def mark_aborted(self) -> bool:
        return self._transition(ACTIVE_STATUSES, JobStatus.ABORTED, finished_at=timezone.now())

    def abort_if_pending(self) -> bool:
        return self._transition((JobStatus.PENDING,), JobStatus.ABORTED, finished_at=timezone.now())

    def request_abort(self) -> bool:
        """Ask a running job to stop at its next step; True if the job was still active."""
        return bool(
            Job.objects.filter(pk=self.pk, status__in=ACTIVE_STATUSES).update(abort_requested=True)
        )

    def abort_was_requested(self) -> bool:
        return Job.objects.filter(pk=self.pk, abort_requested=True).exists()

    def add_progress(self, objects: int, size: int) -> None:
        Job.objects.filter(pk=self.pk).update(
            objects_done=F("objects_done") + objects, bytes_done=F("bytes_done") + size
        )

    def renew_lease(self, seconds: int) -> None:
        Job.objects.filter(pk=self.pk, status=JobStatus.RUNNING).update(
            lease_expires_at=timezone.now() + timedelta(seconds=seconds)
        )

    def start_finalizing(self) -> bool:
        """True for exactly one caller: the one that finishes the job."""
        return bool(
            Job.objects.filter(pk=self.pk, status=JobStatus.RUNNING, finalizing=False).update(
                finalizing=True
            )
        )

    def log(self, message: str, level: str = "INFO") -> None:
        JobLogLine.objects.create(job=self, level=level, message=message)
        event_logger.log(
            logging.getLevelName(level),
            "job %s: %s",
            self.pk,
            message,
            extra={"job_id": str(self.pk)},
        )


class JobObjectQuerySet(models.QuerySet):
    def shared(self) -> models.QuerySet:
        """The objects a job shared: at the destination (copied, or skipped as identical),
        behind a presigned link, or, for a dry run, listed to be shared."""
        return self.filter(status__in=JobObject.SHARED_STATUSES)

    # The groups are listed in the order of an index (jobobject_fastq_rows, _portal_runs), and
    # grouped in that order, so that a page of them reads only its own rows.
    def fastq_groups(self) -> models.QuerySet:
        """One row per library, instrument run and lane that the job shared: its objects and
        bytes, and how many of them it shared."""
        fields = ("instrument_run_id", "lane", "library_id")
        return self._groups(JobObject.Kind.FASTQ, fields).order_by(*fields)

    def portal_run_groups(self) -> models.QuerySet:
        """One row per portal run that the job shared: its workflow, objects and bytes, and
        how many of them it shared."""
        fields = ("portal_run_id", "workflow_name")
        return self._groups(JobObject.Kind.SECONDARY, fields).order_by(*fields)

    def _groups(self, kind: str, fields: tuple[str, ...]) -> models.QuerySet:
        shared = models.Q(status__in=JobObject.SHARED_STATUSES)
        return (
            self.filter(kind=kind)
            .values(*fields)
            .annotate(
                object_count=models.Count("pk"),
                total_bytes=models.Sum("size"),
                shared_count=models.Count("pk", filter=shared),
                shared_bytes=Coalesce(
                    models.Sum("size", filter=shared), 0, output_field=models.BigIntegerField()
                ),
            )
            .filter(shared_count__gt=0)
        )

    def totals(self) -> dict:
        """Objects and bytes, the archived ones, objects by status, objects and bytes by the
        checksum that verifies them, and the fastq list rows and portal runs they come from."""
        archived = models.Q(archived=True)
        totals = self.aggregate(
            count=models.Count("pk"),
            total_bytes=Coalesce(models.Sum("size"), 0, output_field=models.BigIntegerField()),
            archived_count=models.Count("pk", filter=archived),
            archived_bytes=Coalesce(
                models.Sum("size", filter=archived), 0, output_field=models.BigIntegerField()
            ),
        )
        by_status = self.values_list("status").annotate(n=models.Count("pk")).order_by("status")
        totals["by_status"] = dict(by_status)
        totals["by_checksum"] = self.by_checksum()
        totals["at_destination"] = self.at_destination()
        fastqs = self.filter(kind=JobObject.Kind.FASTQ)
        totals["fastq_rows"] = (
            fastqs.values("library_id", "instrument_run_id", "lane").distinct().count()
        )
        runs = self.filter(kind=JobObject.Kind.SECONDARY)
        totals["portal_runs"] = runs.values("portal_run_id").distinct().count()
        # What fastq_groups() and portal_run_groups() list: the rows with something shared.
        shared = self.shared()
        totals["shared_fastq_rows"] = (
            shared.filter(kind=JobObject.Kind.FASTQ)
            .values("library_id", "instrument_run_id", "lane")
            .distinct()
            .count()
        )
        totals["shared_portal_runs"] = (
            shared.filter(kind=JobObject.Kind.SECONDARY)
            .values("portal_run_id", "workflow_name")
            .distinct()
            .count()
        )
        return totals

    def cost_groups(self) -> list[dict]:
        """Objects and bytes by what a share's cost depends on: data type, workflow, storage
        class, archived or not, and what a push's dry run found at the destination. A few
        rows whatever the job's size (one query), which jobs.estimate folds into totals."""
        fields = ("kind", "workflow_name", "storage_class", "archived", "at_destination")
        rows = (
            self.values(*fields)
            .annotate(objects=models.Count("pk"), bytes=Coalesce(models.Sum("size"), 0))
            .order_by(*fields)
        )
        return list(rows)

    def by_checksum(self) -> dict[str, tuple[int, int]]:
        """Objects and bytes by the checksum that verifies them (checksum_source)."""
        rows = (
            self.values_list("checksum_source")
            .annotate(n=models.Count("pk"), size=Coalesce(models.Sum("size"), 0))
            .order_by("checksum_source")
        )
        return {source: (n, size) for source, n, size in rows}

    def delivered_to(self, recipient_id) -> models.QuerySet:
        """The objects a recipient (its pk) has received: delivered (DELIVERED_STATUSES) by a
        job for them that succeeded and was not a dry run. A job that failed or was aborted
        delivered nothing, whatever it copied."""
        jobs = Job.objects.filter(
            recipient_id=recipient_id, status=JobStatus.SUCCEEDED, dryrun=False
        ).values("pk")
        return self.filter(status__in=JobObject.DELIVERED_STATUSES, job__in=jobs)

    def at_destination(self) -> dict[str, int]:
        """How many objects a push's dry run found at the destination, by what it found."""
        found = self.exclude(at_destination="").values_list("at_destination")
        return dict(found.annotate(n=models.Count("pk")).order_by())


class AtDestination(models.TextChoices):
    IDENTICAL = "identical", "already there, identical (a push skips it)"
    DIFFERENT = "different", "there with other content (a push overwrites it)"


class JobObject(models.Model):
    """One object of a job: where it comes from, where it goes, and what happened to it."""

    class Kind(models.TextChoices):
        FASTQ = "fastq"
        SECONDARY = "secondary"

    class Status(models.TextChoices):
        LISTED = "LISTED", "listed (dry run)"
        PENDING = "PENDING"
        COPIED = "COPIED"
        SKIPPED = "SKIPPED", "skipped (identical at destination)"
        PRESIGNED = "PRESIGNED"
        FAILED = "FAILED"
        CANCELLED = "CANCELLED", "not copied (aborted)"

    SHARED_STATUSES = (Status.LISTED, Status.COPIED, Status.SKIPPED, Status.PRESIGNED)
    # What a recipient has received, once the job succeeded (not a dry run): at the
    # destination (copied, or skipped as identical there) or behind a presigned link. LISTED
    # is a dry run's; PENDING, FAILED and CANCELLED never arrived.
    DELIVERED_STATUSES = (Status.COPIED, Status.SKIPPED, Status.PRESIGNED)

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="job_objects")
    position = models.PositiveIntegerField()
    kind = models.CharField(max_length=16, choices=Kind.choices)
    source_uri = models.CharField(max_length=2048)
    relative_path = models.CharField(max_length=2048)
    destination_uri = models.CharField(max_length=2048, blank=True)
    size = models.BigIntegerField()
    etag = models.CharField(max_length=80, blank=True)
    storage_class = models.CharField(max_length=32, default="STANDARD")
    archived = models.BooleanField(default=False)
    library_id = models.CharField(max_length=32, blank=True, db_index=True)
    instrument_run_id = models.CharField(max_length=64, blank=True)
    lane = models.PositiveSmallIntegerField(null=True, blank=True)
    portal_run_id = models.CharField(max_length=16, blank=True, db_index=True)
    workflow_name = models.CharField(max_length=32, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    error = models.TextField(blank=True)
    # A copy made in parts has an ETag of its own; kept so that a later push can recognise
    # the object it wrote (blank: the copy's ETag is the source's).
    destination_etag = models.CharField(max_length=80, blank=True)
    # The source's content checksums (shares.checksums): hex MD5 and SHA-256, S3's full-object
    # checksum as "ALGORITHM:base64", which one is the reference, and why there is none.
    md5 = models.CharField(max_length=32, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    s3_checksum = models.CharField(max_length=80, blank=True)
    checksum_source = models.CharField(max_length=16, choices=ChecksumSource.choices, blank=True)
    checksum_note = models.CharField(max_length=200, blank=True)
    # How its copy was proven equal to the source (jobs.verify): "MD5", "CRC32", "SHA256"...
    # or "size" when the source has no checksum.
    verified_by = models.CharField(max_length=16, blank=True)
    # What a push's dry run found at the destination (blank: nothing there, or not looked).
    at_destination = models.CharField(max_length=16, choices=AtDestination.choices, blank=True)
    # A push's batch claims its PENDING objects before copying them (jobs.push.claim): the
    # claim's token and how long it holds, renewed by the batch's heartbeat. A PENDING object
    # under a live claim is being copied by one worker; no other starts it. A claim that ran
    # out belongs to a worker that died (or lost the database for longer than its lease).
    claimed_by = models.CharField(max_length=32, blank=True)
    claimed_until = models.DateTimeField(null=True, blank=True)

    objects = JobObjectQuerySet.as_manager()

    class Meta:
        ordering = ["job", "position"]
        # Pages of a job's objects are ranges of (job, position): one_object_per_position's
        # index. These two serve the filters that would otherwise scan a whole job for rare
        # rows: ?status=FAILED, ?archived=true.
        indexes = [
            models.Index(fields=["job", "status", "position"], name="jobobject_job_status_pos"),
            models.Index(
                fields=["job", "kind", "instrument_run_id", "lane", "library_id"],
                name="jobobject_fastq_rows",
            ),
            models.Index(
                fields=["job", "kind", "portal_run_id", "workflow_name"],
                name="jobobject_portal_runs",
            ),
            models.Index(
                fields=["job", "position"],
                condition=models.Q(archived=True),
                name="jobobject_archived",
            ),
            # What a recipient received, found by source (jobs.incremental). Not a partial
            # index of the delivered statuses: SQLite uses one only when the query spells its
            # condition with literals, and the ORM binds parameters.
            models.Index(fields=["source_uri"], name="jobobject_source"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["job", "position"], name="one_object_per_position"),
            models.UniqueConstraint(
                fields=["job", "relative_path"], name="one_object_per_relative_path"
            ),
        ]

    def __str__(self) -> str:
        return self.relative_path


class LeftOutObject(models.Model):
    """An object an incremental share left out: its recipient had received it from `received_in`
    (the latest such job). Recorded once per source, counted into the job's `left_out`."""

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="left_out_objects")
    source_uri = models.CharField(max_length=2048)
    relative_path = models.CharField(max_length=2048)
    size = models.BigIntegerField()
    etag = models.CharField(max_length=80, blank=True)
    received_in = models.ForeignKey(Job, on_delete=models.SET_NULL, null=True, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["job", "source_uri"], name="left_out_once_per_source")
        ]

    def __str__(self) -> str:
        return self.relative_path


class JobLogLine(models.Model):
    """A line of a job's own log, shown to operators in the API and the admin."""

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="log_lines")
    at = models.DateTimeField(default=timezone.now)
    level = models.CharField(max_length=8, default="INFO")
    message = models.TextField()

    class Meta:
        ordering = ["at", "pk"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.level} {self.message}"
