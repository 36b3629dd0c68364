"""`seed_scale`: a synthetic catalogue of any size, the objects behind its big run, and a
finished pull of any size, each made once however often the command runs."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from catalogue.models import Fastq, Individual, Library, Project, Sample, Subject, WorkflowRun
from catalogue.scale import (
    FASTQ_OBJECT_LIBRARIES,
    ScaleSize,
    big_run_id,
    big_run_prefix,
    fastq_object_libraries,
    library_id,
)
from jobs.models import Job, JobObject, JobStatus
from shares.resolve import resolve
from shares.validation import LaunchSerializer
from sharing_project.s3.objects import list_objects

pytestmark = pytest.mark.django_db

BUCKET = "dsm-scale-tests"
SMALL = ["--libraries", "50", "--fastqs", "200", "--workflow-runs", "20", "--bucket", BUCKET]
OBJECTS = 300


def seed(*args: str) -> str:
    out = io.StringIO()
    call_command("seed_scale", *SMALL, *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def catalogue_rows() -> dict[str, list[dict]]:
    models = (Project, Individual, Subject, Sample, Library, Fastq, WorkflowRun)
    rows = {model.__name__: list(model.objects.values().order_by("pk")) for model in models}
    rows["library projects"] = list(Library.projects.through.objects.values().order_by("pk"))
    rows["run libraries"] = list(WorkflowRun.libraries.through.objects.values().order_by("pk"))
    return rows


def bucket_listing() -> dict[str, tuple[str, int]]:
    return {o.uri: (o.etag, o.size) for o in list_objects(f"s3://{BUCKET}/")}


def pull_of(payload: dict) -> dict:
    launch = LaunchSerializer(data=payload)
    assert launch.is_valid(), launch.errors
    return launch.normalised_config


def test_the_catalogue_has_the_size_asked_for():
    out = seed()
    assert Library.objects.count() == 50
    assert Sample.objects.count() == 50
    assert Subject.objects.count() == 25
    assert Fastq.objects.count() == 200
    assert WorkflowRun.objects.count() == 20
    assert "50 libraries" in out
    assert "200 fastq list rows" in out
    tumour = Library.objects.get(library_id=library_id(1))
    assert tumour.phenotype == "tumor"
    assert tumour.projects.count() == 1
    assert tumour.subject.individuals.count() == 1
    assert Library.objects.get(library_id=library_id(2)).subject == tumour.subject


def test_every_seeded_row_passes_the_models_own_validation():
    """bulk_create skips the models' save(): the ids and URIs must be valid all the same."""
    seed()
    for model in (Project, Individual, Subject, Sample, Library, Fastq, WorkflowRun):
        for row in model.objects.all():
            row.full_clean(validate_unique=False, validate_constraints=False)


def test_a_librarys_fastq_rows_are_on_different_runs_or_lanes():
    seed("--libraries", "10", "--fastqs", "45")
    assert Fastq.objects.count() == 45
    assert Fastq.objects.filter(library__library_id=library_id(1)).count() == 5


def test_seeding_twice_changes_nothing_in_the_catalogue():
    seed()
    first = catalogue_rows()
    seed()
    assert catalogue_rows() == first


@pytest.mark.e2e  # writes hundreds of objects to S3, twice: seconds
def test_the_big_run_holds_n_objects_and_a_share_of_it_resolves_to_exactly_n(s3):
    out = seed("--objects", str(OBJECTS))
    run_id = big_run_id(OBJECTS)
    assert run_id in out
    outputs = list(list_objects(big_run_prefix(BUCKET, OBJECTS)))
    assert len(outputs) == OBJECTS
    keys = [o.key for o in outputs]
    assert any(" " in key for key in keys)
    assert any(not key.isascii() for key in keys)
    assert all(any(c in "".join(keys) for c in mark) for mark in "+#%")
    assert len({o.etag for o in outputs}) == OBJECTS  # distinct bytes
    payload = {
        "shareType": "pull",
        "dataTypeList": ["secondaryAnalysis"],
        "portalRunIdList": [run_id],
    }
    manifest = resolve(pull_of(payload))
    assert len(manifest) == OBJECTS
    assert {entry.portal_run_id for entry in manifest} == {run_id}


@pytest.mark.e2e  # writes hundreds of objects to S3, twice: seconds
def test_seeding_objects_twice_writes_nothing_the_second_time(s3):
    seed("--objects", str(OBJECTS))
    before, rows = bucket_listing(), catalogue_rows()
    out = seed("--objects", str(OBJECTS))
    assert bucket_listing() == before
    assert catalogue_rows() == rows
    assert f"0 written (0 bytes), {len(before)} already there" in out


@pytest.mark.e2e  # writes objects to S3: seconds
def test_a_missing_object_is_written_again_and_only_it(s3):
    seed("--objects", "40")
    gone = sorted(bucket_listing())[3]
    bucket, key = gone.removeprefix("s3://").split("/", 1)
    s3.delete_object(Bucket=bucket, Key=key)
    out = seed("--objects", "40")
    assert "1 written" in out
    assert gone in bucket_listing()


@pytest.mark.e2e  # writes objects to S3: seconds
def test_the_first_libraries_fastqs_are_in_s3_as_the_catalogue_describes_them(s3):
    seed("--objects", "20")
    listing = bucket_listing()
    first = [library_id(n) for n in range(1, FASTQ_OBJECT_LIBRARIES + 1)]
    fastqs = Fastq.objects.filter(library__library_id__in=first)
    assert fastqs.count() == 4 * FASTQ_OBJECT_LIBRARIES
    for fastq in fastqs:
        assert listing[fastq.r1_uri] == (fastq.r1_etag, fastq.r1_size)
        assert listing[fastq.r2_uri] == (fastq.r2_etag, fastq.r2_size)
    manifest = resolve(
        pull_of({"shareType": "pull", "dataTypeList": ["Fastq"], "libraryIdList": first[:2]})
    )
    assert len(manifest) == 2 * 2 * 4  # two libraries, four rows each, R1 and R2


def test_few_libraries_with_many_fastq_rows_get_no_flood_of_fastq_objects():
    assert fastq_object_libraries(ScaleSize(libraries=50, fastqs=200, workflow_runs=0)) == 10
    assert fastq_object_libraries(ScaleSize(libraries=10, fastqs=1000, workflow_runs=0)) == 2
    assert fastq_object_libraries(ScaleSize(libraries=5, fastqs=5000, workflow_runs=0)) == 0
    assert fastq_object_libraries(ScaleSize(libraries=5, fastqs=0, workflow_runs=0)) == 0


@pytest.mark.e2e  # writes objects to S3: seconds
def test_big_runs_of_different_sizes_live_side_by_side(s3):
    seed("--objects", "30")
    seed("--objects", "45")
    for count in (30, 45):
        assert len(list(list_objects(big_run_prefix(BUCKET, count)))) == count
        assert WorkflowRun.objects.filter(portal_run_id=big_run_id(count)).exists()


def test_job_objects_make_one_finished_pull_with_n_objects_and_its_totals():
    out = seed("--job-objects", "500")
    job = Job.objects.get()
    assert str(job.pk) in out
    assert (job.share_type, job.dryrun, job.status) == ("pull", False, JobStatus.SUCCEEDED)
    assert job.config["portalRunIdList"] == [big_run_id(500)]
    objects = job.job_objects.order_by("position")
    assert list(objects.values_list("position", flat=True)) == list(range(500))
    assert set(objects.values_list("status", flat=True)) == {JobObject.Status.PRESIGNED}
    first = objects.first()
    assert first.relative_path.startswith(
        f"secondary-analysis/oncoanalyser-wgts-dna/{job.config['portalRunIdList'][0]}/"
    )
    assert first.md5 == first.etag
    totals = job.job_objects.totals()
    assert (job.objects_total, job.objects_done) == (500, 500)
    assert job.bytes_total == job.bytes_done == totals["total_bytes"] > 0


def test_seeding_job_objects_twice_finds_the_same_job():
    first = seed("--job-objects", "500")
    second = seed("--job-objects", "500")
    job = Job.objects.get()
    assert "created" in first
    assert f"Job {job.pk}" in second
    assert "already there" in second
    assert job.job_objects.count() == 500


def test_job_status_reports_the_seeded_job():
    seed("--job-objects", "120")
    job = Job.objects.get()
    out = io.StringIO()
    call_command("job_status", str(job.pk), stdout=out)
    assert "SUCCEEDED" in out.getvalue()
    assert "120" in out.getvalue()


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--libraries", "0"], "--libraries"),
        (["--fastqs", "-1"], "--fastqs"),
        (["--workflow-runs", "-3"], "--workflow-runs"),
        (["--objects", "0"], "--objects"),
        (["--job-objects", "-5"], "--job-objects"),
        (["--threads", "0"], "--threads"),
        (["--libraries", "1000000"], "--libraries"),
        (["--bucket", "Not_A_Bucket"], "--bucket"),
    ],
)
def test_a_bad_option_is_refused_naming_it_and_nothing_is_seeded(args, named):
    with pytest.raises(CommandError) as error:
        seed(*args)
    message = str(error.value)
    assert named in message
    assert "Give" in message or "give" in message
    assert not Library.objects.exists()
