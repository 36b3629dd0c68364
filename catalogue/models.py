"""What data exists: the LIMS metadata, fastq list rows and secondary-analysis workflow runs.

After the upstream OrcaBus metadata model: a Library belongs to one Sample and one Subject and
to one or more Projects; a Subject belongs to one or more Individuals. Every save validates ids
and URIs, so no write path (admin, API, importer, shell) can store a malformed one.
"""

from __future__ import annotations

import hashlib

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models

from catalogue import ids
from catalogue.workflows import Workflow
from sharing_project.s3.uris import (
    ARCHIVED_STORAGE_CLASSES,
    STORAGE_CLASSES,
    validate_etag,
    validate_md5,
    validate_object_uri,
    validate_prefix_uri,
    validate_sha256,
)


class ValidatedModel(models.Model):
    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        self.full_clean(validate_unique=False, validate_constraints=False)
        super().save(*args, **kwargs)


class Project(ValidatedModel):
    project_id = models.CharField(max_length=64, unique=True, validators=[ids.validate_project_id])
    name = models.CharField(max_length=200, blank=True)
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["project_id"]

    def __str__(self) -> str:
        return self.project_id


class Individual(ValidatedModel):
    individual_id = models.CharField(
        max_length=32, unique=True, validators=[ids.validate_individual_id]
    )
    source = models.CharField(max_length=100, blank=True)

    class Meta:
        ordering = ["individual_id"]

    def __str__(self) -> str:
        return self.individual_id


class Subject(ValidatedModel):
    subject_id = models.CharField(max_length=64, unique=True, validators=[ids.validate_subject_id])
    individuals = models.ManyToManyField(Individual, related_name="subjects", blank=True)

    class Meta:
        ordering = ["subject_id"]

    def __str__(self) -> str:
        return self.subject_id


class Sample(ValidatedModel):
    class Source(models.TextChoices):
        BLOOD = "blood"
        TISSUE = "tissue"
        FFPE = "FFPE"
        FNA = "FNA"
        PLASMA = "plasma"
        CELL_LINE = "cell-line"
        WATER = "water"
        OTHER = "other"

    sample_id = models.CharField(max_length=32, unique=True, validators=[ids.validate_sample_id])
    external_sample_id = models.CharField(
        max_length=64, blank=True, validators=[ids.validate_external_sample_id]
    )
    source = models.CharField(max_length=16, choices=Source.choices, blank=True)

    class Meta:
        ordering = ["sample_id"]

    def __str__(self) -> str:
        return self.sample_id


class Library(ValidatedModel):
    class Phenotype(models.TextChoices):
        NORMAL = "normal"
        TUMOR = "tumor"
        NEGATIVE_CONTROL = "negative-control"

    class Type(models.TextChoices):
        WGS = "WGS"
        WTS = "WTS"
        CTDNA = "ctDNA"
        CTTSO = "ctTSO"
        EXOME = "exome"
        TSO_DNA = "TSO-DNA"
        TSO_RNA = "TSO-RNA"
        METHYLSEQ = "MethylSeq"
        OTHER = "other"

    class WorkflowKind(models.TextChoices):
        CLINICAL = "clinical"
        RESEARCH = "research"
        QC = "qc"
        CONTROL = "control"
        BCL = "bcl"
        MANUAL = "manual"

    class Quality(models.TextChoices):
        VERY_POOR = "very-poor"
        POOR = "poor"
        BORDERLINE = "borderline"
        GOOD = "good"

    library_id = models.CharField(max_length=32, unique=True, validators=[ids.validate_library_id])
    phenotype = models.CharField(max_length=20, choices=Phenotype.choices, blank=True)
    type = models.CharField(max_length=16, choices=Type.choices, blank=True)
    assay = models.CharField(max_length=64, blank=True)
    workflow = models.CharField(max_length=16, choices=WorkflowKind.choices, blank=True)
    quality = models.CharField(max_length=16, choices=Quality.choices, blank=True)
    coverage = models.FloatField(null=True, blank=True, validators=[MinValueValidator(0)])
    sample = models.ForeignKey(
        Sample, on_delete=models.PROTECT, related_name="libraries", null=True, blank=True
    )
    subject = models.ForeignKey(
        Subject, on_delete=models.PROTECT, related_name="libraries", null=True, blank=True
    )
    projects = models.ManyToManyField(Project, related_name="libraries", blank=True)

    class Meta:
        ordering = ["library_id"]
        verbose_name_plural = "libraries"

    def __str__(self) -> str:
        return self.library_id


_INDEX = RegexValidator(
    r"^[ACGTN]*(?:\+[ACGTN]+)?$", "Enter an index of A, C, G, T, N (dual: ACGT+TTGA)."
)


class Fastq(ValidatedModel):
    """One fastq list row: a library's reads from one lane of one instrument run."""

    class Compression(models.TextChoices):
        GZIP = "GZIP"
        ORA = "ORA"

    library = models.ForeignKey(Library, on_delete=models.PROTECT, related_name="fastqs")
    instrument_run_id = models.CharField(
        max_length=64, db_index=True, validators=[ids.validate_instrument_run_id]
    )
    lane = models.PositiveSmallIntegerField(validators=[MinValueValidator(1), MaxValueValidator(8)])
    index = models.CharField(max_length=64, blank=True, validators=[_INDEX])
    compression = models.CharField(
        max_length=8, choices=Compression.choices, default=Compression.GZIP
    )
    r1_uri = models.CharField("R1 URI", max_length=1024, validators=[validate_object_uri])
    r1_size = models.BigIntegerField("R1 size", validators=[MinValueValidator(0)])
    r1_etag = models.CharField("R1 ETag", max_length=64, validators=[validate_etag])
    # Content checksums the upstream fastq manager publishes, when it does.
    r1_md5 = models.CharField("R1 MD5", max_length=32, blank=True, validators=[validate_md5])
    r1_sha256 = models.CharField(
        "R1 SHA-256", max_length=64, blank=True, validators=[validate_sha256]
    )
    r1_storage_class = models.CharField(
        "R1 storage class",
        max_length=32,
        choices=[(c, c) for c in STORAGE_CLASSES],
        default="STANDARD",
    )
    r2_uri = models.CharField(
        "R2 URI", max_length=1024, blank=True, validators=[validate_object_uri]
    )
    r2_size = models.BigIntegerField(
        "R2 size", null=True, blank=True, validators=[MinValueValidator(0)]
    )
    r2_etag = models.CharField("R2 ETag", max_length=64, blank=True, validators=[validate_etag])
    r2_md5 = models.CharField("R2 MD5", max_length=32, blank=True, validators=[validate_md5])
    r2_sha256 = models.CharField(
        "R2 SHA-256", max_length=64, blank=True, validators=[validate_sha256]
    )
    r2_storage_class = models.CharField(
        "R2 storage class",
        max_length=32,
        choices=[(c, c) for c in STORAGE_CLASSES],
        blank=True,
    )

    class Meta:
        ordering = ["instrument_run_id", "lane", "library__library_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["library", "instrument_run_id", "lane"], name="one_fastq_row_per_lane"
            )
        ]

    def __str__(self) -> str:
        return f"{self.library.library_id} {self.instrument_run_id} lane {self.lane}"

    def clean(self) -> None:
        has_r2 = [bool(self.r2_uri), self.r2_size is not None, bool(self.r2_etag)]
        if any(has_r2) and not all(has_r2):
            raise ValidationError("R2 needs its URI, size and ETag together (or none of them).")
        if self.r2_uri and not self.r2_storage_class:
            self.r2_storage_class = "STANDARD"

    @property
    def is_archived(self) -> bool:
        return bool({self.r1_storage_class, self.r2_storage_class} & ARCHIVED_STORAGE_CLASSES)


class WorkflowRun(ValidatedModel):
    """One secondary-analysis run; its outputs are every object under `output_uri`."""

    class Status(models.TextChoices):
        SUCCEEDED = "SUCCEEDED"
        FAILED = "FAILED"
        ABORTED = "ABORTED"
        RUNNING = "RUNNING"
        DEPRECATED = "DEPRECATED"

    portal_run_id = models.CharField(
        max_length=16, unique=True, validators=[ids.validate_portal_run_id]
    )
    workflow_name = models.CharField(max_length=32, choices=Workflow.choices, db_index=True)
    libraries = models.ManyToManyField(Library, related_name="workflow_runs")
    output_uri = models.CharField(
        max_length=1024, validators=[validate_prefix_uri], help_text="s3://bucket/prefix/"
    )
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.SUCCEEDED, db_index=True
    )
    start_time = models.DateTimeField(null=True, blank=True)
    end_time = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-portal_run_id"]

    def __str__(self) -> str:
        return f"{self.portal_run_id} ({self.workflow_name})"

    def clean(self) -> None:
        if self.output_uri and not self.output_uri.endswith("/"):
            self.output_uri += "/"


class ObjectChecksum(models.Model):
    """Checksums the service computed by reading an object, so that no object is read twice
    for them. Keyed by what identifies one version of the bytes: the URI, ETag and size (a
    replaced object has another ETag, and misses the cache)."""

    key = models.CharField(max_length=64, unique=True)  # SHA-256 of URI, ETag and size
    uri = models.CharField(max_length=2048)
    etag = models.CharField(max_length=80)
    size = models.BigIntegerField()
    md5 = models.CharField(max_length=32, validators=[validate_md5])
    sha256 = models.CharField(max_length=64, validators=[validate_sha256])
    crc32 = models.CharField(max_length=12)  # base64, as S3 gives it
    computed_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-computed_at"]

    def __str__(self) -> str:
        return f"{self.uri} ({self.etag}, {self.size} bytes)"

    @staticmethod
    def key_of(uri: str, etag: str, size: int) -> str:
        return hashlib.sha256(f"{uri}\n{etag}\n{size}".encode()).hexdigest()
