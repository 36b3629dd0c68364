"""Read-only camelCase views of the catalogue, named as upstream OrcaBus names them."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from catalogue.models import Fastq, Library, WorkflowRun


class LibrarySerializer(serializers.ModelSerializer):
    libraryId = serializers.CharField(source="library_id")
    sampleId = serializers.CharField(source="sample.sample_id", default=None)
    externalSampleId = serializers.CharField(source="sample.external_sample_id", default=None)
    subjectId = serializers.CharField(source="subject.subject_id", default=None)
    individualIds = serializers.SerializerMethodField()
    projectIds = serializers.SerializerMethodField()

    class Meta:
        model = Library
        fields = [
            "libraryId",
            "phenotype",
            "type",
            "assay",
            "workflow",
            "quality",
            "coverage",
            "sampleId",
            "externalSampleId",
            "subjectId",
            "individualIds",
            "projectIds",
        ]

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_individualIds(self, library: Library) -> list[str]:
        if library.subject is None:
            return []
        return sorted(i.individual_id for i in library.subject.individuals.all())

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_projectIds(self, library: Library) -> list[str]:
        return sorted(p.project_id for p in library.projects.all())


class ReadFileSerializer(serializers.Serializer):
    s3Uri = serializers.CharField()
    size = serializers.IntegerField()
    etag = serializers.CharField()
    storageClass = serializers.CharField()


class FastqSerializer(serializers.ModelSerializer):
    libraryId = serializers.CharField(source="library.library_id")
    instrumentRunId = serializers.CharField(source="instrument_run_id")
    archived = serializers.BooleanField(source="is_archived")
    read1 = serializers.SerializerMethodField()
    read2 = serializers.SerializerMethodField()

    class Meta:
        model = Fastq
        fields = [
            "id",
            "libraryId",
            "instrumentRunId",
            "lane",
            "index",
            "compression",
            "archived",
            "read1",
            "read2",
        ]

    @extend_schema_field(ReadFileSerializer)
    def get_read1(self, fastq: Fastq) -> dict:
        return _read(fastq.r1_uri, fastq.r1_size, fastq.r1_etag, fastq.r1_storage_class)

    @extend_schema_field(ReadFileSerializer(allow_null=True))
    def get_read2(self, fastq: Fastq) -> dict | None:
        if not fastq.r2_uri:
            return None
        return _read(fastq.r2_uri, fastq.r2_size, fastq.r2_etag, fastq.r2_storage_class)


def _read(uri: str, size: int | None, etag: str, storage_class: str) -> dict:
    return {"s3Uri": uri, "size": size, "etag": etag, "storageClass": storage_class}


class WorkflowRunSerializer(serializers.ModelSerializer):
    portalRunId = serializers.CharField(source="portal_run_id")
    workflowName = serializers.CharField(source="workflow_name")
    libraryIds = serializers.SerializerMethodField()
    outputUri = serializers.CharField(source="output_uri")
    startTime = serializers.DateTimeField(source="start_time")
    endTime = serializers.DateTimeField(source="end_time")

    class Meta:
        model = WorkflowRun
        fields = [
            "portalRunId",
            "workflowName",
            "status",
            "libraryIds",
            "outputUri",
            "startTime",
            "endTime",
        ]

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_libraryIds(self, run: WorkflowRun) -> list[str]:
        return sorted(lib.library_id for lib in run.libraries.all())
