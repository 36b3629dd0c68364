"""What the job API shows: camelCase, read-only."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.reverse import reverse

from jobs.models import Job, JobLogLine, JobObject


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
        return {
            "objectsDone": job.objects_done,
            "objectsTotal": job.objects_total,
            "bytesDone": job.bytes_done,
            "bytesTotal": job.bytes_total,
            "percent": job.progress_percent,
        }

    @extend_schema_field(ErrorSerializer(allow_null=True))
    def get_error(self, job: Job) -> dict | None:
        if not job.error_type:
            return None
        return {"type": job.error_type, "message": job.error_message, "details": job.error_details}

    @extend_schema_field(OutputsSerializer(allow_null=True))
    def get_outputs(self, job: Job) -> dict | None:
        """Presigned links of a finished share: the LIMS CSV (pull and push) and the download
        script (pull)."""
        if not job.lims_csv_url:
            return None
        expires = serializers.DateTimeField().to_representation(job.links_expire_at)
        outputs = {
            "limsCsv": {"url": job.lims_csv_url, "s3Uri": job.lims_csv_uri, "expiresAt": expires}
        }
        if job.download_script_url:
            outputs["dataDownloadScript"] = {
                "url": job.download_script_url,
                "s3Uri": job.download_script_uri,
                "expiresAt": expires,
            }
        return outputs

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_warnings(self, job: Job) -> list[str]:
        return [line.message for line in job.log_lines.all() if line.level == "WARNING"]


class JobObjectSerializer(serializers.ModelSerializer):
    sourceUri = serializers.CharField(source="source_uri")
    relativePath = serializers.CharField(source="relative_path")
    destinationUri = serializers.CharField(source="destination_uri")
    storageClass = serializers.CharField(source="storage_class")
    libraryId = serializers.CharField(source="library_id")
    instrumentRunId = serializers.CharField(source="instrument_run_id")
    portalRunId = serializers.CharField(source="portal_run_id")
    workflowName = serializers.CharField(source="workflow_name")

    class Meta:
        model = JobObject
        fields = [
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
            "status",
            "error",
        ]


class SharedFastqSerializer(serializers.Serializer):
    libraryId = serializers.CharField(source="library_id")
    instrumentRunId = serializers.CharField(source="instrument_run_id")
    lane = serializers.IntegerField()
    objectCount = serializers.IntegerField(source="object_count")
    bytes = serializers.IntegerField(source="total_bytes")


class SharedPortalRunSerializer(serializers.Serializer):
    portalRunId = serializers.CharField(source="portal_run_id")
    workflowName = serializers.CharField(source="workflow_name")
    objectCount = serializers.IntegerField(source="object_count")
    bytes = serializers.IntegerField(source="total_bytes")


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


class RefusalSerializer(serializers.Serializer):
    detail = serializers.CharField()
    fingerprint = serializers.CharField(required=False)
