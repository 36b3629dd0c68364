"""Every catalogue write validates its ids and URIs, whichever path it comes by."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from catalogue.models import Fastq, Individual, Library, Project, Sample, Subject, WorkflowRun
from catalogue.workflows import Workflow, canonical_workflow

pytestmark = pytest.mark.django_db

ETAG = "0123456789abcdef0123456789abcdef"


@pytest.mark.parametrize(
    ("model", "field", "good", "bad"),
    [
        (Project, "project_id", ["CUP", "BPOP-retro", "Control_2024"], ["", "a b", "../x", "-x"]),
        (Individual, "individual_id", ["SBJ00001"], ["SBJ1", "sbj00001", "L2400001"]),
        (Subject, "subject_id", ["SN_PMCC-0001", "EXT.12"], ["SN PMCC", "$(id)", "a/b"]),
        (Sample, "sample_id", ["PRJ240001", "MDX240001_topup"], ["PRJ24", "240001", "PRJ240001;"]),
        (
            Library,
            "library_id",
            ["L2400001", "L2400001_topup", "L2400001_rerun2"],
            ["L240001", "l2400001", "L2400001_x", "L2400001 "],
        ),
    ],
)
def test_ids_are_validated_on_save(model, field, good, bad):
    for value in good:
        model(**{field: value}).save()
    for value in bad:
        with pytest.raises(ValidationError) as error:
            model(**{field: value}).save()
        assert field in error.value.message_dict
    assert model.objects.count() == len(good)


def make_fastq(library: Library, **overrides) -> Fastq:
    values = {
        "library": library,
        "instrument_run_id": "240101_A01052_0001_AHXXXXXXX",
        "lane": 1,
        "r1_uri": "s3://primary-data/run/L2400001_R1_001.fastq.gz",
        "r1_size": 10,
        "r1_etag": ETAG,
    } | overrides
    return Fastq(**values)


@pytest.fixture
def library() -> Library:
    return Library.objects.create(library_id="L2400001")


def test_fastq_with_valid_fields_is_saved(library):
    make_fastq(library, r2_uri="s3://primary-data/run/R2.fastq.gz", r2_size=9, r2_etag=ETAG).save()
    fastq = Fastq.objects.get()
    assert fastq.r2_storage_class == "STANDARD"
    assert not fastq.is_archived


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("instrument_run_id", "240101-A01052-0001"),
        ("instrument_run_id", "run1"),
        ("lane", 0),
        ("lane", 9),
        ("r1_uri", "https://example.org/R1.fastq.gz"),
        ("r1_uri", "s3://Bad_Bucket/R1.fastq.gz"),
        ("r1_uri", "s3://primary-data/folder/"),
        ("r1_uri", "s3://primary-data/new\nline.fastq.gz"),
        ("r1_size", -1),
        ("r1_etag", "not-an-etag"),
        ("index", "ACGT;rm"),
        ("r1_storage_class", "COLD"),
    ],
)
def test_fastq_with_a_bad_field_is_refused(library, field, value):
    with pytest.raises(ValidationError) as error:
        make_fastq(library, **{field: value}).save()
    assert field in error.value.message_dict
    assert not Fastq.objects.exists()


def test_fastq_r2_needs_uri_size_and_etag_together(library):
    with pytest.raises(ValidationError, match="R2 needs its URI, size and ETag"):
        make_fastq(library, r2_uri="s3://primary-data/run/R2.fastq.gz").save()


def test_fastq_in_deep_archive_is_archived(library):
    assert make_fastq(library, r1_storage_class="DEEP_ARCHIVE").is_archived


@pytest.mark.parametrize("portal_run_id", ["20240101abcdef01", "2024010100000000"])
def test_workflow_run_with_valid_portal_run_id_is_saved(portal_run_id):
    run = WorkflowRun(
        portal_run_id=portal_run_id,
        workflow_name=Workflow.UMCCRISE,
        output_uri="s3://analysis-data/umccrise/run",
    )
    run.save()
    assert run.output_uri == "s3://analysis-data/umccrise/run/"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("portal_run_id", "20240101ABCDEF01"),
        ("portal_run_id", "2024010abcdef01"),
        ("portal_run_id", "20240101abcdef012"),
        ("workflow_name", "dragen-wgts-dna"),
        ("workflow_name", "bwa"),
        ("output_uri", "/local/path/"),
    ],
)
def test_workflow_run_with_a_bad_field_is_refused(field, value):
    values = {
        "portal_run_id": "20240101abcdef01",
        "workflow_name": "umccrise",
        "output_uri": "s3://analysis-data/x/",
    } | {field: value}
    with pytest.raises(ValidationError) as error:
        WorkflowRun(**values).save()
    assert field in error.value.message_dict


@pytest.mark.parametrize(
    ("name", "canonical"),
    [
        ("cttsov2", "cttsov2"),
        ("dragen-tso500-ctdna", "cttsov2"),
        ("Dragen-WGTS-DNA", "tumor-normal"),
        ("dragen-wgts-rna", "wts"),
        ("oncoanalyser-wgts-dna-rna", "oncoanalyser-wgts-dna-rna"),
        ("sash", "sash"),
        ("bcl-convert", None),
    ],
)
def test_workflow_aliases_map_to_one_canonical_name(name, canonical):
    workflow = canonical_workflow(name)
    assert (workflow.value if workflow else None) == canonical
