"""Incremental shares (onlyNewSinceLastShare): a share leaves out what its recipient has
received from an earlier successful share, through the real API, console and command line,
against the S3 server on loopback."""

from __future__ import annotations

import hashlib
import io
import json

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from catalogue.models import ObjectChecksum
from jobs.incremental import Incremental
from jobs.manifest import record_resolution
from jobs.models import Job, JobObject, JobStatus, LeftOutObject
from recipients.models import Recipient
from shares.models import ShareRequest
from shares.resolve import ManifestEntry
from sharing_project.s3.client import client
from sharing_project.s3.objects import ensure_bucket, list_objects, put_object
from sharing_project.s3.uris import parse_s3_uri

pytestmark = pytest.mark.django_db

RECIPIENT = "garvan-ccg"
ONE_LIBRARY = {"libraryIdList": ["L2400001"], "dataTypeList": ["Fastq"]}
TWO_LIBRARIES = {"libraryIdList": ["L2400001", "L2400002"], "dataTypeList": ["Fastq"]}


def push_to(folder: str) -> dict:
    return {"shareType": "push", "shareDestination": f"s3://collaborator-bucket/cup/{folder}/"}


@pytest.fixture
def share(launch, operator_client, recipient, demo):
    """Launch a share for the recipient through the API (a push after its dry run); returns
    the job's body as GET /api/v1/jobs/{id} shows it once it has run."""
    ensure_bucket("collaborator-bucket")

    def run(*, incremental: bool = False, dryrun: bool = False, **payload) -> dict:
        payload = {"recipientId": RECIPIENT, **payload}
        if incremental:
            payload["onlyNewSinceLastShare"] = True
        response = launch(**payload, dryrun=dryrun)
        assert response.status_code == 202, response.content
        return operator_client.get(response.json()["url"]).json()

    return run


@pytest.fixture
def delivered(share):
    """A push of one library's fastqs to the recipient, dry run first: the earlier share."""

    def run(selection: dict = ONE_LIBRARY, folder: str = "first") -> dict:
        assert share(**selection, **push_to(folder), dryrun=True)["status"] == "SUCCEEDED"
        job = share(**selection, **push_to(folder))
        assert job["status"] == "SUCCEEDED", job["error"]
        return job

    return run


def source_uris(job: dict) -> set[str]:
    return set(JobObject.objects.filter(job_id=job["id"]).values_list("source_uri", flat=True))


def fastq_uris(*library_ids: str) -> set[str]:
    from catalogue.models import Fastq

    uris = set()
    for r1, r2 in Fastq.objects.filter(library__library_id__in=library_ids).values_list(
        "r1_uri", "r2_uri"
    ):
        uris |= {r1, r2}
    return uris


# --- what is left out -------------------------------------------------------------------------


def test_an_incremental_dry_run_of_a_wider_selection_lists_only_the_new_objects(share, delivered):
    first = delivered(ONE_LIBRARY)
    dry = share(**TWO_LIBRARIES, **push_to("second"), incremental=True, dryrun=True)
    assert dry["status"] == "SUCCEEDED", dry["error"]
    assert source_uris(dry) == fastq_uris("L2400002")
    old = fastq_uris("L2400001")
    left_out = dry["leftOut"]
    assert left_out["recipientId"] == RECIPIENT
    assert left_out["objects"] == len(old) == first["progress"]["objectsTotal"]
    assert left_out["bytes"] == first["progress"]["bytesTotal"]
    assert left_out["jobCount"] == 1
    assert left_out["jobs"] == [
        {"jobId": first["id"], "objects": len(old), "bytes": first["progress"]["bytesTotal"]}
    ]
    log = [line["message"] for line in dry["log"]]
    assert any(
        f"left out {len(old)} object(s)" in line and f"{len(old)} by job {first['id']}" in line
        for line in log
    ), log
    recorded = LeftOutObject.objects.filter(job_id=dry["id"])
    assert set(recorded.values_list("source_uri", flat=True)) == old
    assert set(recorded.values_list("received_in_id", flat=True)) == {
        Job.objects.get(pk=first["id"]).pk
    }


def test_a_new_object_under_a_shared_workflow_run_is_the_only_one_listed(
    fresh_demo, share, delivered
):
    from catalogue.models import WorkflowRun

    run = WorkflowRun.objects.filter(libraries__library_id="L2400001").order_by("pk").first()
    selection = {"portalRunIdList": [run.portal_run_id], "dataTypeList": ["SecondaryAnalysis"]}
    first = delivered(selection)
    new_uri = run.output_uri + "late/added-after-the-share.txt"
    put_object(new_uri, b"a file the pipeline wrote after the first share\n")
    dry = share(**selection, **push_to("second"), incremental=True, dryrun=True)
    assert source_uris(dry) == {new_uri}
    assert dry["leftOut"]["objects"] == first["progress"]["objectsTotal"]
    assert dry["leftOut"]["jobs"][0]["jobId"] == first["id"]


def test_an_object_changed_in_place_is_shared_again(fresh_demo, share, delivered):
    delivered(ONE_LIBRARY)
    changed = sorted(fastq_uris("L2400001"))[0]
    put_object(changed, b"@new content, new ETag\nACGT\n+\nFFFF\n")
    dry = share(**ONE_LIBRARY, **push_to("second"), incremental=True, dryrun=True)
    assert source_uris(dry) == {changed}
    assert dry["leftOut"]["objects"] == len(fastq_uris("L2400001")) - 1


def test_the_same_bytes_uploaded_again_in_parts_count_as_received(fresh_demo, share, delivered):
    """A new ETag (a multipart upload's) but the same MD5, computed by reading the object."""
    delivered(ONE_LIBRARY)
    uri = sorted(fastq_uris("L2400001"))[0]
    body = client().get_object(**_location(uri))["Body"].read()
    _upload_in_one_part(uri, body)
    assert JobObject.objects.filter(source_uri=uri).first().etag != _etag_now(uri)
    dry = share(**ONE_LIBRARY, **push_to("second"), incremental=True, dryrun=True)
    assert source_uris(dry) == set()
    assert dry["leftOut"]["objects"] == len(fastq_uris("L2400001"))


def test_an_object_received_with_the_same_etag_is_not_read_for_its_checksum(
    fresh_demo, share, delivered
):
    """Objects matched by ETag are left out before the checksums are looked for: an object
    written in parts (no MD5 in its ETag) is not read again to compute one."""
    uri = sorted(fastq_uris("L2400001"))[0]
    _upload_in_one_part(uri, client().get_object(**_location(uri))["Body"].read())
    delivered(ONE_LIBRARY)
    ObjectChecksum.objects.all().delete()  # what the first share computed is forgotten
    dry = share(**ONE_LIBRARY, **push_to("second"), incremental=True, dryrun=True)
    assert dry["leftOut"]["objects"] == len(fastq_uris("L2400001"))
    assert not any("Reading objects" in line["message"] for line in dry["log"])
    assert not ObjectChecksum.objects.exists()


def test_another_recipient_gets_everything(share, delivered):
    delivered(ONE_LIBRARY)
    Recipient.objects.create(
        recipient_id="wehi-bioinf",
        name="WEHI bioinformatics",
        allowed_destinations=["s3://collaborator-bucket/cup/"],
    )
    dry = share(
        **ONE_LIBRARY,
        **push_to("wehi"),
        recipientId="wehi-bioinf",
        incremental=True,
        dryrun=True,
    )
    assert source_uris(dry) == fastq_uris("L2400001")
    assert dry["leftOut"] == {
        "recipientId": "wehi-bioinf",
        "objects": 0,
        "bytes": 0,
        "jobCount": 0,
        "jobs": [],
    }
    assert any(
        "has received none of these objects before" in line["message"] for line in dry["log"]
    )


@pytest.mark.parametrize("ended", [JobStatus.FAILED, JobStatus.ABORTED])
def test_a_push_that_failed_or_was_aborted_delivered_nothing(share, delivered, ended):
    """Its objects were copied, but the job did not succeed: they are shared again."""
    first = delivered(ONE_LIBRARY)
    Job.objects.filter(pk=first["id"]).update(status=ended)
    dry = share(**ONE_LIBRARY, **push_to("second"), incremental=True, dryrun=True)
    assert source_uris(dry) == fastq_uris("L2400001")
    assert dry["leftOut"]["objects"] == 0


def test_an_earlier_dry_run_delivered_nothing(share):
    assert share(**ONE_LIBRARY, **push_to("first"), dryrun=True)["status"] == "SUCCEEDED"
    assert share(**ONE_LIBRARY, shareType="pull", dryrun=True)["status"] == "SUCCEEDED"
    dry = share(**ONE_LIBRARY, **push_to("second"), incremental=True, dryrun=True)
    assert source_uris(dry) == fastq_uris("L2400001")
    assert dry["leftOut"]["objects"] == 0


def test_an_earlier_pull_counts_as_received(share):
    pulled = share(**ONE_LIBRARY, shareType="pull")
    assert pulled["status"] == "SUCCEEDED", pulled["error"]
    dry = share(**TWO_LIBRARIES, **push_to("second"), incremental=True, dryrun=True)
    assert source_uris(dry) == fastq_uris("L2400002")
    assert dry["leftOut"]["jobs"] == [
        {
            "jobId": pulled["id"],
            "objects": pulled["progress"]["objectsTotal"],
            "bytes": pulled["progress"]["bytesTotal"],
        }
    ]


def test_an_object_delivered_twice_is_credited_to_the_latest_job(share, delivered):
    delivered(ONE_LIBRARY, "first")
    latest = delivered(ONE_LIBRARY, "again")
    dry = share(**ONE_LIBRARY, **push_to("third"), incremental=True, dryrun=True)
    assert [item["jobId"] for item in dry["leftOut"]["jobs"]] == [latest["id"]]
    assert dry["leftOut"]["objects"] == len(fastq_uris("L2400001"))


def test_an_object_that_comes_twice_is_left_out_once(operator, recipient):
    """A fastq also under a workflow run's output prefix is counted once."""
    earlier = _delivered_job(operator, recipient, ["s3://bucket/x.fastq.gz"])
    job = _incremental_job(operator, recipient)
    fastq = _entry("fastq/RUN/Lane_1/L1/x.fastq.gz", "s3://bucket/x.fastq.gz")
    again = _entry("secondary-analysis/bclconvert/run1/x.fastq.gz", "s3://bucket/x.fastq.gz")
    record_resolution(job, [[fastq, _entry("y.txt")], [again]], "LISTED")
    job.refresh_from_db()
    assert job.left_out_summary().objects == 1
    assert job.left_out_summary().jobs[0].job_id == str(earlier.pk)
    assert list(job.job_objects.values_list("relative_path", flat=True)) == ["y.txt"]


# --- nothing new ------------------------------------------------------------------------------


def test_a_push_with_nothing_new_says_so_and_is_refused(share, delivered, launch):
    first = delivered(ONE_LIBRARY)
    payload = {**ONE_LIBRARY, **push_to("second")}
    dry = share(**payload, incremental=True, dryrun=True)
    assert dry["status"] == "SUCCEEDED"
    assert dry["progress"]["objectsTotal"] == 0
    assert dry["leftOut"]["objects"] == first["progress"]["objectsTotal"]
    assert any(
        w.startswith("Nothing new to share: garvan-ccg has received") for w in dry["warnings"]
    )
    refused = launch(**payload, recipientId=RECIPIENT, onlyNewSinceLastShare=True)
    assert refused.status_code == 409, refused.content
    assert refused.json()["detail"].startswith(f"Nothing new to share: dry run {dry['id']}")
    assert Job.objects.filter(dryrun=False).count() == 1  # only the first push


def test_a_pull_with_nothing_new_succeeds_without_links(share, delivered, operator_client):
    delivered(ONE_LIBRARY)
    pulled = share(**ONE_LIBRARY, shareType="pull", incremental=True)
    assert pulled["status"] == "SUCCEEDED", pulled["error"]
    assert pulled["outputs"] is None
    assert pulled["progress"]["objectsTotal"] == 0
    assert any(
        "Nothing new to share" in w and "No links were made" in w for w in pulled["warnings"]
    )
    out = io.StringIO()
    call_command("job_status", pulled["id"], stdout=out)
    report = out.getvalue()
    assert "Shares:          0 object(s) (none), 0 fastq list row(s)" in report  # not "yet"
    assert "Left out:        4 object(s)" in report
    again = operator_client.post(f"{pulled['url']}/new-links")
    assert again.status_code == 409, again.content
    assert again.json()["detail"].startswith("This pull found nothing new to share")


# --- the push that follows --------------------------------------------------------------------


def test_the_push_after_an_incremental_dry_run_sends_exactly_the_listed_objects(share, delivered):
    first = delivered(ONE_LIBRARY)
    dry = share(**TWO_LIBRARIES, **push_to("second"), incremental=True, dryrun=True)
    pushed = share(**TWO_LIBRARIES, **push_to("second"), incremental=True)
    assert pushed["status"] == "SUCCEEDED", pushed["error"]
    assert pushed["dryRunJobId"] == dry["id"]
    assert source_uris(pushed) == source_uris(dry) == fastq_uris("L2400002")
    landed = {
        item.uri
        for item in list_objects("s3://collaborator-bucket/cup/second/")
        if item.uri.endswith(".fastq.gz")
    }
    listed = JobObject.objects.filter(job_id=dry["id"]).values_list("destination_uri", flat=True)
    assert landed == set(listed)
    assert pushed["leftOut"] == dry["leftOut"]
    assert any("Its dry run left out 4 object(s)" in line["message"] for line in pushed["log"])
    # What it pushed counts as received now: nothing of the two libraries is new any more.
    again = share(**TWO_LIBRARIES, **push_to("third"), incremental=True, dryrun=True)
    assert again["leftOut"]["objects"] == len(fastq_uris("L2400001", "L2400002"))
    assert {item["jobId"] for item in again["leftOut"]["jobs"]} == {first["id"], pushed["id"]}


# --- console and command line -----------------------------------------------------------------


def test_the_job_page_shows_what_was_left_out_and_links_the_earlier_job(share, delivered, operator):
    first = delivered(ONE_LIBRARY)
    dry = share(**TWO_LIBRARIES, **push_to("second"), incremental=True, dryrun=True)
    browser = Client()
    browser.force_login(operator)
    page = browser.get(reverse("admin:jobs_job_change", args=[dry["id"]])).content.decode()
    totals = page.split('id="left-out-totals">')[1].split("</p>")[0]
    assert "4 objects" in totals
    assert "garvan-ccg received them from 1 earlier job" in totals
    earlier = reverse("admin:jobs_job_change", args=[first["id"]])
    assert f'<a href="{earlier}">{first["id"]}</a>' in page.split('id="left-out-jobs"')[1]
    assert 'id="nothing-new"' not in page


def test_the_job_page_of_a_dry_run_with_nothing_new_says_so_and_offers_no_push(
    share, delivered, operator
):
    delivered(ONE_LIBRARY)
    dry = share(**ONE_LIBRARY, **push_to("second"), incremental=True, dryrun=True)
    browser = Client()
    browser.force_login(operator)
    page = browser.get(reverse("admin:jobs_job_change", args=[dry["id"]])).content.decode()
    assert "Nothing new to share: garvan-ccg has received every object" in page
    button = page.split('name="_launch_this"')[1].split(">")[0]
    assert "disabled" in button
    assert "Nothing new to share" in button


def share_command(operator, *args: str) -> str:
    """`manage.py share --wait` for the recipient, only what is new; returns its stdout. Run
    with a real commit, so that the job runs while the command follows it."""
    out = io.StringIO()
    call_command(
        "share",
        "--user",
        operator.username,
        *args,
        "--recipient-id",
        RECIPIENT,
        "--only-new-since-last-share",
        "--dryrun",
        "--wait",
        "--interval",
        "0.1",
        stdout=out,
        stderr=io.StringIO(),
    )
    return out.getvalue()


@pytest.mark.usefixtures("transactional_db")
def test_the_share_command_prints_what_a_dry_run_left_out(delivered, operator):
    first = delivered(ONE_LIBRARY)
    out = share_command(
        operator,
        *("--library-id", "L2400001,L2400002", "--data-type", "Fastq", "--share-type", "push"),
        *("--share-destination", "s3://collaborator-bucket/cup/second/"),
    )
    lines = out.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("Left out:"))
    assert "4 object(s)" in lines[at]
    assert "garvan-ccg received already, from 1 earlier job(s)" in lines[at]
    assert "4 object(s)" in lines[at + 1]
    assert lines[at + 1].endswith(f"by job {first['id']}")


@pytest.mark.usefixtures("transactional_db")
def test_the_share_command_json_carries_left_out(delivered, operator):
    delivered(ONE_LIBRARY)
    args = ("--library-id", "L2400001", "--data-type", "Fastq", "--share-type", "pull", "--json")
    body = json.loads(share_command(operator, *args))
    assert body["leftOut"]["objects"] == 4
    assert body["progress"]["objectsTotal"] == 0


# --- at scale ---------------------------------------------------------------------------------


def test_the_filter_asks_the_same_queries_for_ten_objects_as_for_a_thousand(operator, recipient):
    """One look-up and one insert of what is left out per page, whatever the page's size and
    however much the recipient has received (an insert is cut into several statements only
    where the database limits a statement's parameters: SQLite)."""

    def queries_for(n: int) -> tuple[list[str], int]:
        uris = [f"s3://bucket/{n}/{i:05d}.txt" for i in range(n)]
        _delivered_job(operator, recipient, uris[::2])
        _delivered_job(operator, recipient, uris[1::4])
        job = _incremental_job(operator, recipient)
        page = [_entry(f"{n}/{i:05d}.txt") for i in range(n)]
        with CaptureQueriesContext(connection) as captured:
            record_resolution(job, [page], "LISTED")
        job.refresh_from_db()
        left_out = job.left_out_summary().objects
        assert left_out == len(uris[::2]) + len(uris[1::4])
        assert job.job_objects.count() == n - left_out
        return [query["sql"] for query in captured.captured_queries], left_out

    (few, _), (many, left_out) = queries_for(10), queries_for(1000)
    not_inserts = [[sql for sql in run if not sql.startswith("INSERT")] for run in (few, many)]
    assert len(not_inserts[0]) == len(not_inserts[1])
    look_ups = [sql for sql in many if sql.startswith("SELECT") and "recipient_id" in sql]
    assert len(look_ups) == 1  # the page's
    inserts = [sql for sql in many if sql.startswith("INSERT") and "jobs_leftoutobject" in sql]
    columns = [f.name for f in LeftOutObject._meta.concrete_fields if not f.primary_key]
    batch = connection.ops.bulk_batch_size(columns, [None] * left_out)
    assert len(inserts) == -(-left_out // batch)


@pytest.mark.parametrize("statistics", [True, False], ids=["analysed", "never-analysed"])
def test_a_page_s_look_up_starts_from_the_sources_never_from_the_recipient_s_jobs(
    operator, recipient, statistics
):
    """A page's look-up (1,000 sources) reads them through their index (jobobject_source),
    not every object of every job the recipient had: with the database's statistics of a
    history of some size, and on SQLite without any (Django never runs ANALYZE)."""
    if not statistics and connection.vendor != "sqlite":
        pytest.skip("PostgreSQL plans from statistics, which autovacuum keeps")
    history = 20_000 if statistics else 100  # without statistics, the size does not matter
    _delivered_job(operator, recipient, [f"s3://bucket/old/{i:05d}" for i in range(history)])
    if statistics:
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
            if connection.vendor == "postgresql":
                # 20,000 rows are read whole faster than through an index: ask which index.
                cursor.execute("SET LOCAL enable_seqscan = off")
    page = [f"s3://bucket/{'old' if i % 2 else 'new'}/{i:05d}" for i in range(1000)]
    plan = Incremental(_incremental_job(operator, recipient)).look_up_query(page).explain()
    assert "jobobject_source" in plan, plan
    assert "jobobject_job_status_pos" not in plan, plan


# --- helpers ----------------------------------------------------------------------------------


def _entry(path: str, source: str | None = None) -> ManifestEntry:
    return ManifestEntry(
        kind="secondary",
        source_uri=source or f"s3://bucket/{path}",
        relative_path=path,
        size=len(path),
        etag=_etag_of(source or f"s3://bucket/{path}"),
        storage_class="STANDARD",
    )


def _etag_of(uri: str) -> str:
    """A single-part ETag (an MD5) that stands for the object's bytes, in these tests."""
    return hashlib.md5(uri.encode()).hexdigest()


def _config(**values) -> dict:
    return {
        "libraryIdList": ["L2400001"],
        "dataTypeList": ["Fastq"],
        "shareType": "pull",
        "recipientId": RECIPIENT,
        **values,
    }


def _delivered_job(operator, recipient, uris: list[str]) -> Job:
    """A pull that succeeded for the recipient, having delivered these sources."""
    settings_ = _config()
    job = Job.objects.create(
        share_request=ShareRequest.for_config(settings_),
        share_type="pull",
        created_by=operator,
        recipient=recipient,
        status=JobStatus.SUCCEEDED,
    )
    Job.objects.filter(pk=job.pk).update(finished_at=job.created_at)
    JobObject.objects.bulk_create(
        JobObject(
            job=job,
            position=i,
            kind="secondary",
            source_uri=uri,
            relative_path=parse_s3_uri(uri).key,
            size=len(parse_s3_uri(uri).key),
            etag=_etag_of(uri),
            status=JobObject.Status.PRESIGNED,
        )
        for i, uri in enumerate(uris)
    )
    return job


def _incremental_job(operator, recipient) -> Job:
    settings_ = _config(onlyNewSinceLastShare=True)
    return Job.objects.create(
        share_request=ShareRequest.for_config(settings_),
        share_type="pull",
        dryrun=True,
        created_by=operator,
        recipient=recipient,
    )


def _location(uri: str) -> dict:
    location = parse_s3_uri(uri)
    return {"Bucket": location.bucket, "Key": location.key}


def _etag_now(uri: str) -> str:
    return client().head_object(**_location(uri))["ETag"].strip('"')


def _upload_in_one_part(uri: str, body: bytes) -> None:
    """The same bytes written again as a multipart upload: an ETag of its own ("...-1")."""
    s3 = client()
    upload = s3.create_multipart_upload(**_location(uri))
    part = s3.upload_part(**_location(uri), UploadId=upload["UploadId"], PartNumber=1, Body=body)
    s3.complete_multipart_upload(
        **_location(uri),
        UploadId=upload["UploadId"],
        MultipartUpload={"Parts": [{"ETag": part["ETag"], "PartNumber": 1}]},
    )
