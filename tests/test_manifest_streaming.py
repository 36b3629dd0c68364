"""A manifest is never held whole: resolution comes in pages, each recorded as it comes, and the
rules that need every object (each once, one object per relative path, relative-path order)
are applied by the database."""

from __future__ import annotations

from dataclasses import replace

import pytest

from catalogue.demo import RUN_A
from catalogue.models import Fastq, WorkflowRun
from jobs import pull as pull_job
from jobs.manifest import pages_by_position, record_resolution
from jobs.models import Job, JobObject
from jobs.script import MANIFEST_START, write_download_script
from shares.models import ShareRequest
from shares.resolve import ManifestEntry, resolve, resolve_pages
from sharing_project.errors import DuplicateRelativePath, JobAborted, MissingSourceObjects
from sharing_project.s3.objects import delete_object
from tests.test_resolve import config

pytestmark = pytest.mark.django_db


def job_for(operator, **values) -> Job:
    settings_ = config(**values)
    return Job.objects.create(
        share_request=ShareRequest.for_config(settings_),
        share_type=settings_["shareType"],
        created_by=operator,
    )


def entry(path: str, source: str | None = None) -> ManifestEntry:
    return ManifestEntry(
        kind="secondary",
        source_uri=source or f"s3://bucket/{path}",
        relative_path=path,
        size=len(path),
        etag="d41d8cd98f00b204e9800998ecf8427e",
        storage_class="STANDARD",
    )


def recorded(job: Job) -> list[tuple[int, str, str]]:
    return list(
        JobObject.objects.filter(job=job)
        .order_by("position")
        .values_list("position", "relative_path", "source_uri")
    )


def test_resolution_comes_in_pages_no_bigger_than_asked(demo):
    everything = config(projectIdList=["CUP", "BPOP"], dataTypeList=["Fastq", "SecondaryAnalysis"])
    pages = list(resolve_pages(everything, page_size=4))
    assert len(pages) > 3
    assert all(0 < len(page) <= 4 for page in pages)
    streamed = sorted(e.source_uri for page in pages for e in page)
    assert streamed == sorted(e.source_uri for e in resolve(everything))


def test_fastqs_gone_from_s3_are_counted_across_every_page(fresh_demo):
    fastqs = list(Fastq.objects.filter(instrument_run_id=RUN_A).order_by("r1_uri"))
    for fastq in (fastqs[0], fastqs[-1]):
        delete_object(fastq.r1_uri)
    with pytest.raises(MissingSourceObjects) as error:
        list(resolve_pages(config(instrumentRunIdList=[RUN_A]), page_size=2))
    assert str(error.value).startswith("2 fastq object(s)")
    assert set(error.value.details["objects"]) == {fastqs[0].r1_uri, fastqs[-1].r1_uri}


def test_objects_are_numbered_by_relative_path_whatever_order_they_came_in(operator):
    job = job_for(operator)
    record_resolution(job, [[entry("b/2"), entry("c")], [entry("a"), entry("b/1")]], "LISTED")
    assert [(p, path) for p, path, _s in recorded(job)] == [
        (0, "a"),
        (1, "b/1"),
        (2, "b/2"),
        (3, "c"),
    ]


def test_an_object_that_comes_twice_is_recorded_once_where_it_came_first(operator):
    job = job_for(operator)
    fastq = replace(entry("fastq/RUN/Lane_1/L1/x.fastq.gz", "s3://bucket/x.fastq.gz"))
    again = entry("secondary-analysis/bclconvert/run1/x.fastq.gz", "s3://bucket/x.fastq.gz")
    same_path = entry("secondary-analysis/bclconvert/run1/y.txt")
    record_resolution(job, [[fastq, same_path], [again, same_path]], "LISTED")
    assert recorded(job) == [
        (0, fastq.relative_path, "s3://bucket/x.fastq.gz"),
        (1, same_path.relative_path, same_path.source_uri),
    ]


def test_two_objects_for_one_relative_path_refuse_the_share_and_leave_nothing(operator):
    job = job_for(operator)
    pages = [[entry("a"), entry("shared/name")], [entry("shared/name", "s3://other/name")]]
    with pytest.raises(DuplicateRelativePath) as error:
        record_resolution(job, pages, "LISTED")
    assert error.value.details["clashes"] == [
        {"relativePath": "shared/name", "sources": ["s3://bucket/shared/name", "s3://other/name"]}
    ]
    assert not JobObject.objects.filter(job=job).exists()


def test_an_abort_between_pages_leaves_nothing_recorded(operator):
    job = job_for(operator)

    def pages():
        yield [entry("a")]
        Job.objects.filter(pk=job.pk).update(abort_requested=True)
        yield [entry("b")]
        raise AssertionError("no page is asked for after an abort")

    with pytest.raises(JobAborted):
        record_resolution(job, pages(), "LISTED")
    assert not JobObject.objects.filter(job=job).exists()


def test_pages_by_position_walk_every_object_once_in_order(operator):
    job = job_for(operator)
    record_resolution(job, [[entry(f"f{n:02d}") for n in range(11)]], "LISTED")
    pages = list(pages_by_position(JobObject.objects.filter(job=job), 4))
    assert [len(page) for page in pages] == [4, 4, 3]
    assert [o.relative_path for page in pages for o in page] == [f"f{n:02d}" for n in range(11)]


def test_a_script_that_lists_other_than_it_announces_is_refused(tmp_path):
    from datetime import UTC, datetime

    with (tmp_path / "s.sh").open("w") as out, pytest.raises(ValueError, match="announces 3"):
        write_download_script(out, "job", [[]], 3, 0, datetime.now(UTC))


@pytest.mark.e2e  # a whole pull: about two seconds
def test_a_pull_signed_a_page_at_a_time_lists_every_object_once_in_order(
    pull, monkeypatch, operator_client
):
    monkeypatch.setattr(pull_job, "PROGRESS_BATCH", 3)
    run = WorkflowRun.objects.filter(workflow_name="sash").first()
    job, script, _csv = pull(
        dataTypeList=["SecondaryAnalysis"], portalRunIdList=[run.portal_run_id]
    )
    data = script.read_text().split(MANIFEST_START + "\n", 1)[1].splitlines()[:-1]
    paths = [line.split("\t")[3] for line in data]
    objects = JobObject.objects.filter(job_id=job["id"]).order_by("position")
    assert paths == list(objects.values_list("relative_path", flat=True))
    assert len(paths) == job["progress"]["objectsTotal"] > pull_job.PROGRESS_BATCH


def test_a_listing_that_fails_fails_the_resolution(demo):
    from botocore.exceptions import ClientError

    run = WorkflowRun.objects.filter(workflow_name="sash").first()
    WorkflowRun.objects.filter(pk=run.pk).update(output_uri="s3://no-such-bucket/out/")
    with pytest.raises(ClientError, match="NoSuchBucket"):
        list(
            resolve_pages(
                config(portalRunIdList=[run.portal_run_id], dataTypeList=["SecondaryAnalysis"])
            )
        )


@pytest.mark.timeout(30)
def test_a_resolution_left_after_its_first_page_stops_its_listings(demo):
    runs = list(
        WorkflowRun.objects.filter(status="SUCCEEDED").values_list("portal_run_id", flat=True)
    )
    pages = resolve_pages(
        config(portalRunIdList=runs, dataTypeList=["SecondaryAnalysis"]), page_size=1
    )
    assert len(next(pages)) == 1
    pages.close()  # returns once every listing thread has stopped
