"""What the job API shows: camelCase, read-only."""

from __future__ import annotations

import functools

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.reverse import reverse

from jobs.models import AtDestination, Job, JobLogLine, JobObject, LeftOut, Progress
from sharelinks.serializers import ShareLinkSerializer
from shares.checksums import ChecksumSource
from shares.contract import DataType


class ProgressSerializer(serializers.Serializer):
    objectsDone = serializers.IntegerField()
    objectsTotal = serializers.IntegerField()
    bytesDone = serializers.IntegerField()
    bytesTotal = serializers.IntegerField()
    percent = serializers.FloatField()


class ErrorSerializer(serializers.Serializer):
    type = serializers.CharField()
    message = serializers.CharField()
    details = serializers.DictField()


class LinkSerializer(serializers.Serializer):
    url = serializers.URLField()
    s3Uri = serializers.CharField()
    expiresAt = serializers.DateTimeField()


class OutputsSerializer(serializers.Serializer):
    limsCsv = LinkSerializer()
    dataDownloadScript = LinkSerializer(required=False, help_text="pulls only")
    checksums = LinkSerializer(
        required=False,
        help_text="pulls only: checksums.md5 (or checksums.sha256) as md5sum -c reads it",
    )


class LogLineSerializer(serializers.ModelSerializer):
    class Meta:
        model = JobLogLine
        fields = ["at", "level", "message"]


class JobSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField()
    shareType = serializers.CharField(source="share_type")
    request = serializers.JSONField(source="share_request.config")
    fingerprint = serializers.CharField(source="share_request.fingerprint")
    launchedBy = serializers.CharField(source="created_by.username")
    createdAt = serializers.DateTimeField(source="created_at")
    startedAt = serializers.DateTimeField(source="started_at")
    finishedAt = serializers.DateTimeField(source="finished_at")
    abortRequested = serializers.BooleanField(source="abort_requested")
    dryRunJobId = serializers.UUIDField(source="source_dry_run.job_id", default=None)
    taskId = serializers.CharField(source="task_id")
    progress = serializers.SerializerMethodField()
    error = serializers.SerializerMethodField()
    warnings = serializers.SerializerMethodField()
    outputs = serializers.SerializerMethodField()
    log = LogLineSerializer(source="log_lines", many=True)

    class Meta:
        model = Job
        fields = [
            "id",
            "url",
            "status",
            "shareType",
            "dryrun",
            "destination",
            "request",
            "fingerprint",
            "launchedBy",
            "createdAt",
            "startedAt",
            "finishedAt",
            "abortRequested",
            "dryRunJobId",
            "taskId",
            "progress",
            "error",
            "warnings",
            "outputs",
            "log",
        ]

    def get_url(self, job: Job) -> str:
        return reverse("job-detail", kwargs={"pk": job.pk}, request=self.context.get("request"))

    @extend_schema_field(ProgressSerializer)
    def get_progress(self, job: Job) -> dict:
        return progress_body(job.progress)

    @extend_schema_field(ErrorSerializer(allow_null=True))
    def get_error(self, job: Job) -> dict | None:
        if not job.error_type:
            return None
        return {"type": job.error_type, "message": job.error_message, "details": job.error_details}

    @extend_schema_field(OutputsSerializer(allow_null=True))
    def get_outputs(self, job: Job) -> dict | None:
        """Presigned links of a finished share: the LIMS CSV (pull and push) and the download
        script (pull)."""
        expires = serializers.DateTimeField()
        links = {
            output.name: {
                "url": output.url,
                "s3Uri": output.s3_uri,
                "expiresAt": expires.to_representation(output.expires_at),
            }
            for output in job.outputs()
        }
        return links or None

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_warnings(self, job: Job) -> list[str]:
        return job.warnings


class VerificationSerializer(serializers.Serializer):
    checksumSource = serializers.CharField()
    label = serializers.CharField()
    objects = serializers.IntegerField()
    bytes = serializers.IntegerField()


class DestinationPreviewSerializer(serializers.Serializer):
    writable = serializers.BooleanField(allow_null=True, help_text="null: not checked")
    note = serializers.CharField(help_text="why not writable, or why not checked")
    identical = serializers.IntegerField(help_text="objects already there, identical: skipped")
    different = serializers.IntegerField(help_text="objects there with other content: overwritten")


class CountSerializer(serializers.Serializer):
    objects = serializers.IntegerField()
    bytes = serializers.IntegerField()


class LeftOutDeliverySerializer(CountSerializer):
    jobId = serializers.UUIDField(help_text="the earlier job that delivered them (the latest)")


class DataTypeCountSerializer(CountSerializer):
    dataType = serializers.ChoiceField(choices=DataType.choices)


class WorkflowCountSerializer(CountSerializer):
    workflow = serializers.CharField(help_text="the canonical workflow name")


class StorageClassCountSerializer(CountSerializer):
    storageClass = serializers.CharField()
    typicalDelay = serializers.CharField(help_text="how long a restore at restoreTier takes")


class ArchivedEstimateSerializer(CountSerializer):
    restoreTier = serializers.CharField(help_text="the tier restores are requested at")
    typicalDelay = serializers.CharField(
        help_text="how long restoring them all typically takes (the slowest storage class)"
    )
    byStorageClass = StorageClassCountSerializer(many=True)


class EgressEstimateSerializer(serializers.Serializer):
    route = serializers.ChoiceField(
        choices=["internet", "cross-region", "same-region"],
        help_text="internet (pull, ICAv2 push), cross-region (S3 push to another region, or a "
        "bucket whose region could not be read), same-region (no charge)",
    )
    note = serializers.CharField(help_text="why this route")
    sourceRegion = serializers.CharField(help_text="the data's region (AWS_REGION)")
    destinationRegion = serializers.CharField(allow_null=True, help_text="an S3 push's bucket's")
    bytes = serializers.IntegerField(
        help_text="bytes that leave: all of them, less those a push skips (identical there)"
    )
    pricePerGb = serializers.DecimalField(
        max_digits=12, decimal_places=4, help_text="per 2**30 bytes"
    )
    currency = serializers.CharField()
    cost = serializers.DecimalField(max_digits=16, decimal_places=2)


class TransferEstimateSerializer(serializers.Serializer):
    bytes = serializers.IntegerField()
    bandwidthMbps = serializers.IntegerField(help_text="megabits (10**6) per second")
    seconds = serializers.IntegerField()


class EstimateSerializer(CountSerializer):
    """What a share will cost, counted when its dry run finished (jobs.estimate)."""

    byDataType = DataTypeCountSerializer(many=True)
    byWorkflow = WorkflowCountSerializer(many=True, help_text="secondary analysis only")
    archived = ArchivedEstimateSerializer(help_text="archived objects, not restored")
    egress = EgressEstimateSerializer()
    transfer = TransferEstimateSerializer()


class LeftOutSerializer(serializers.Serializer):
    recipientId = serializers.CharField()
    objects = serializers.IntegerField(help_text="objects left out: received already")
    bytes = serializers.IntegerField()
    jobCount = serializers.IntegerField(help_text="earlier jobs that delivered them")
    jobs = LeftOutDeliverySerializer(
        many=True, help_text=f"the {LeftOut.JOBS_KEPT} of them that delivered most, most first"
    )


class JobDetailSerializer(JobSerializer):
    """A job as its own page shows it: also how its objects are verified; for a dry run, what
    its destination holds (a push's) and what the share will cost; for an incremental share,
    what it left out."""

    verification = serializers.SerializerMethodField()
    destinationPreview = serializers.SerializerMethodField()
    estimate = serializers.SerializerMethodField()
    leftOut = serializers.SerializerMethodField()
    shareLink = serializers.SerializerMethodField()

    class Meta(JobSerializer.Meta):
        fields = [
            *JobSerializer.Meta.fields,
            "verification",
            "destinationPreview",
            "estimate",
            "leftOut",
            "shareLink",
        ]

    @extend_schema_field(ShareLinkSerializer(allow_null=True))
    def get_shareLink(self, job: Job) -> dict | None:
        """A pull's share link: its state, what was downloaded, the latest receipt; null for
        any other job (a push, a dry run, a pull with presigned links)."""
        link = job.issued_share_link
        return ShareLinkSerializer(link).data if link is not None else None

    @extend_schema_field(EstimateSerializer(allow_null=True))
    def get_estimate(self, job: Job) -> dict | None:
        """A finished dry run's estimate, as counted when it finished; null otherwise."""
        record = getattr(job, "dry_run_record", None) if job.dryrun else None
        return record.estimate if record is not None else None

    @extend_schema_field(LeftOutSerializer(allow_null=True))
    def get_leftOut(self, job: Job) -> dict | None:
        """An incremental share (onlyNewSinceLastShare): the objects left out because the
        recipient has received them from earlier jobs (a push: its dry run's); null for any
        other share, and while an incremental one is being resolved."""
        summary = job.left_out_summary()
        if summary is None:
            return None
        return {
            "recipientId": summary.recipient_id,
            "objects": summary.objects,
            "bytes": summary.bytes,
            "jobCount": summary.job_count,
            "jobs": [
                {"jobId": d.job_id, "objects": d.objects, "bytes": d.bytes} for d in summary.jobs
            ],
        }

    @extend_schema_field(DestinationPreviewSerializer(allow_null=True))
    def get_destinationPreview(self, job: Job) -> dict | None:
        record = getattr(job, "dry_run_record", None) if job.dryrun and job.destination else None
        if record is None:
            return None
        found = (job.object_summary() or {}).get("at_destination", {})
        return {
            "writable": record.destination_writable,
            "note": record.destination_note,
            "identical": found.get(AtDestination.IDENTICAL, 0),
            "different": found.get(AtDestination.DIFFERENT, 0),
        }

    @extend_schema_field(VerificationSerializer(many=True))
    def get_verification(self, job: Job) -> list[dict]:
        """Objects and bytes by the checksum that verifies them (size-only: none), as counted
        when the job finished (Job.object_summary); empty while it runs."""
        labels = dict(ChecksumSource.choices)
        by_checksum = (job.object_summary() or {}).get("by_checksum", {})
        return [
            {
                "checksumSource": source,
                "label": labels.get(source, "not known"),
                "objects": n,
                "bytes": size,
            }
            for source, (n, size) in sorted(by_checksum.items())
        ]


def progress_body(progress: Progress) -> dict:
    return {
        "objectsDone": progress.objects_done,
        "objectsTotal": progress.objects_total,
        "bytesDone": progress.bytes_done,
        "bytesTotal": progress.bytes_total,
        "percent": progress.percent,
    }


class JobObjectSerializer(serializers.ModelSerializer):
    position = serializers.IntegerField(
        help_text="its place in the manifest, from 0: what ?after= and ?before= take"
    )
    sourceUri = serializers.CharField(source="source_uri")
    relativePath = serializers.CharField(source="relative_path")
    destinationUri = serializers.CharField(source="destination_uri")
    storageClass = serializers.CharField(source="storage_class")
    libraryId = serializers.CharField(source="library_id")
    instrumentRunId = serializers.CharField(source="instrument_run_id")
    portalRunId = serializers.CharField(source="portal_run_id")
    workflowName = serializers.CharField(source="workflow_name")
    s3Checksum = serializers.CharField(
        source="s3_checksum", help_text="S3's full-object checksum: ALGORITHM:base64"
    )
    checksumSource = serializers.CharField(
        source="checksum_source",
        help_text="which checksum verifies the object: md5-etag, catalogue, full-object, "
        "computed, or size-only (then checksumNote says why)",
    )
    checksumNote = serializers.CharField(source="checksum_note")
    atDestination = serializers.CharField(
        source="at_destination",
        help_text="a push's dry run: identical (skipped), different (overwritten), or blank",
    )
    verifiedBy = serializers.CharField(
        source="verified_by",
        help_text="how the copy was proven equal to its source (MD5, CRC32, SHA256...; size "
        "when the source has no checksum); pushes only",
    )

    class Meta:
        model = JobObject
        fields = [
            "position",
            "kind",
            "relativePath",
            "sourceUri",
            "destinationUri",
            "size",
            "etag",
            "storageClass",
            "archived",
            "libraryId",
            "instrumentRunId",
            "lane",
            "portalRunId",
            "workflowName",
            "md5",
            "sha256",
            "s3Checksum",
            "checksumSource",
            "checksumNote",
            "verifiedBy",
            "atDestination",
            "status",
            "error",
        ]

    def to_representation(self, instance: JobObject) -> dict:
        """Every field is a plain value of the row (text, a number, a boolean or null), shown
        as it is: read straight from the attributes instead of through each field's
        get_attribute and to_representation: 15 % off an object page (100 rows of 23 fields).
        Same output; a test compares the two."""
        return {name: getattr(instance, source) for name, source in self._sources}

    @functools.cached_property
    def _sources(self) -> list[tuple[str, str]]:
        return [(name, field.source) for name, field in self.fields.items()]


class SharedCountsSerializer(serializers.Serializer):
    """A row's objects in the job's manifest, and those the job shared: at the destination
    (copied or skipped as identical) for a push, behind a link for a pull, listed for a dry
    run. Only rows with something shared are listed."""

    objectCount = serializers.IntegerField(source="object_count")
    bytes = serializers.IntegerField(source="total_bytes")
    sharedCount = serializers.IntegerField(source="shared_count")
    sharedBytes = serializers.IntegerField(source="shared_bytes")


# The row's ids come first in the answer: DRF puts the first base's fields first.
class _FastqRow(serializers.Serializer):
    libraryId = serializers.CharField(source="library_id")
    instrumentRunId = serializers.CharField(source="instrument_run_id")
    lane = serializers.IntegerField()


class _PortalRunRow(serializers.Serializer):
    portalRunId = serializers.CharField(source="portal_run_id")
    workflowName = serializers.CharField(source="workflow_name")


class SharedFastqSerializer(_FastqRow, SharedCountsSerializer):
    """A fastq list row (library, instrument run, lane) the job shared."""


class SharedPortalRunSerializer(_PortalRunRow, SharedCountsSerializer):
    """A portal run the job shared."""


def paginated(item: type[serializers.Serializer]) -> type[serializers.Serializer]:
    """The schema of a page of `item`s, as StandardPagination returns it."""
    return type(
        f"Paginated{item.__name__.removesuffix('Serializer')}List",
        (serializers.Serializer,),
        {
            "count": serializers.IntegerField(),
            "next": serializers.URLField(allow_null=True),
            "previous": serializers.URLField(allow_null=True),
            "results": item(many=True),
        },
    )


def keyset_page(item: type[serializers.Serializer]) -> type[serializers.Serializer]:
    """The schema of a page of a job's `item`s, as KeysetPagination returns it."""
    return type(
        f"{item.__name__.removesuffix('Serializer')}Page",
        (serializers.Serializer,),
        {
            "objectsTotal": serializers.IntegerField(
                help_text="the job's objects, all of them (its progress.objectsTotal, stored on "
                "the job): filters do not change it, and a listing is never counted"
            ),
            "next": serializers.URLField(allow_null=True, help_text="the page after (?after=)"),
            "previous": serializers.URLField(
                allow_null=True, help_text="the page before (?before=); null on the first page"
            ),
            "results": item(many=True),
        },
    )


class RefusalSerializer(serializers.Serializer):
    detail = serializers.CharField()
    fingerprint = serializers.CharField(required=False)
