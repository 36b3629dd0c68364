"""Jobs through the API: status, what a job shares, listing and filters, abort, permissions,
and the runner's guarantees."""

from __future__ import annotations

import json
import uuid

import pytest
from django.contrib.auth.models import User
from rest_framework.authtoken.models import Token
from rest_framework.renderers import JSONRenderer
from rest_framework.serializers import ModelSerializer
from rest_framework.test import APIClient

from catalogue.demo import ARCHIVED_LIBRARY
from catalogue.models import Fastq, WorkflowRun
from jobs.models import Job, JobObject
from jobs.serializers import JobObjectSerializer
from jobs.tasks import run_job
from tests.support.jobs import finished_job

pytestmark = pytest.mark.django_db

DRY_PULL = {
    "libraryIdList": ["L2400001", "L2400002"],
    "dataTypeList": ["Fastq", "SecondaryAnalysis"],
    "shareType": "pull",
    "dryrun": True,
}


@pytest.fixture
def dry_run(launch, demo, operator_client) -> dict:
    response = launch(**DRY_PULL)
    assert response.status_code == 202
    return operator_client.get(response.json()["url"]).json()


def test_launch_answers_202_with_the_job_and_its_url(launch, demo):
    response = launch(**DRY_PULL)
    assert response.status_code == 202
    body = response.json()
    assert response["Location"] == body["url"]
    assert body["url"].endswith(f"/api/v1/jobs/{body['id']}")
    assert uuid.UUID(body["id"]).version == 4
    assert body["launchedBy"] == "olivia-operator"
    assert body["shareType"] == "pull"
    assert body["dryrun"] is True


def test_finished_dry_run_shows_status_progress_request_and_times(dry_run):
    job = Job.objects.get(pk=dry_run["id"])
    assert dry_run["status"] == "SUCCEEDED"
    assert dry_run["progress"] == {
        "objectsDone": job.objects_total,
        "objectsTotal": job.objects_total,
        "bytesDone": job.bytes_total,
        "bytesTotal": job.bytes_total,
        "percent": 100.0,
    }
    assert dry_run["request"]["libraryIdList"] == ["L2400001", "L2400002"]
    assert "dryrun" not in dry_run["request"]
    assert len(dry_run["fingerprint"]) == 64
    assert dry_run["startedAt"] <= dry_run["finishedAt"]
    assert dry_run["error"] is None
    assert dry_run["taskId"]
    assert [line["message"] for line in dry_run["log"]][-1] == "Succeeded."


def test_fastqs_lists_each_shared_fastq_row(dry_run, operator_client):
    rows = operator_client.get(f"{dry_run['url']}/fastqs").json()["results"]
    expected = Fastq.objects.filter(library__library_id__in=["L2400001", "L2400002"])
    assert {(r["libraryId"], r["instrumentRunId"], r["lane"]) for r in rows} == {
        (f.library.library_id, f.instrument_run_id, f.lane) for f in expected
    }
    assert all(r["objectCount"] == 2 for r in rows)
    assert sum(r["bytes"] for r in rows) == sum(f.r1_size + f.r2_size for f in expected)


def test_portal_run_ids_lists_each_shared_run(dry_run, operator_client):
    rows = operator_client.get(f"{dry_run['url']}/portal-run-ids").json()["results"]
    expected = WorkflowRun.objects.filter(
        libraries__library_id__in=["L2400001", "L2400002"], status="SUCCEEDED"
    ).distinct()
    assert {r["portalRunId"] for r in rows} == {run.portal_run_id for run in expected}
    assert all(r["objectCount"] >= 3 for r in rows)


def walk(client, url: str, link: str = "next") -> list[dict]:
    """Every object a listing gives, following its `next` (or `previous`) links."""
    seen = []
    while url:
        page = client.get(url).json()
        seen += page["results"]
        url = page[link]
    return seen


def test_objects_are_paged_by_position_and_filterable(dry_run, operator_client):
    total = dry_run["progress"]["objectsTotal"]
    first = operator_client.get(f"{dry_run['url']}/objects?pageSize=5").json()
    assert first["objectsTotal"] == total
    assert first["previous"] is None
    assert "after=4" in first["next"]
    seen = walk(operator_client, f"{dry_run['url']}/objects?pageSize=5")
    assert [o["position"] for o in seen] == list(range(total))
    assert len({o["relativePath"] for o in seen}) == total
    bad = operator_client.get(f"{dry_run['url']}/objects?kind=fastqs")
    assert bad.status_code == 400
    assert "kind" in bad.json()
    fastqs = walk(operator_client, f"{dry_run['url']}/objects?kind=fastq&pageSize=3")
    expected = Fastq.objects.filter(library__library_id__in=["L2400001", "L2400002"]).count()
    assert len(fastqs) == 2 * expected
    assert all(o["relativePath"].startswith("fastq/") for o in fastqs)


def test_a_cursor_walks_every_object_once_in_order_with_filters(operator, operator_client):
    job = finished_job(operator, 1003, every_failed=7)
    url = f"/api/v1/jobs/{job.pk}/objects"
    forward = walk(operator_client, f"{url}?pageSize=100")
    assert [o["position"] for o in forward] == list(range(1003))
    failed = walk(operator_client, f"{url}?status=FAILED&pageSize=10")
    assert [o["position"] for o in failed] == list(range(0, 1003, 7))
    # From a page in the middle, back to the start by the previous links.
    middle = operator_client.get(f"{url}?status=FAILED&pageSize=10&after=500").json()
    assert [o["position"] for o in middle["results"]] == list(range(504, 574, 7))
    back = walk(operator_client, middle["previous"], link="previous")
    assert sorted(o["position"] for o in back) == list(range(0, 504, 7))
    assert len({o["position"] for o in back}) == len(back)
    last = operator_client.get(f"{url}?pageSize=100&after={1003 - 101}").json()
    assert [o["position"] for o in last["results"]] == list(range(903, 1003))
    assert last["next"] is None
    assert last["objectsTotal"] == 1003


def test_an_object_page_shows_each_field_as_drf_would(operator, operator_client):
    """The object serializer reads attributes straight (JobObjectSerializer.to_representation):
    its rows are what DRF's field by field representation gives, nulls, numbers, booleans and
    choices included, in a page as served."""
    job = finished_job(operator, 3, every_failed=2)
    JobObject.objects.filter(job=job, position=1).update(
        lane=None, archived=True, md5="0" * 32, verified_by="MD5", at_destination="identical"
    )
    served = operator_client.get(f"/api/v1/jobs/{job.pk}/objects").json()["results"]
    rows = JobObject.objects.filter(job=job).order_by("position")
    by_field = [ModelSerializer.to_representation(JobObjectSerializer(), row) for row in rows]
    assert served == json.loads(JSONRenderer().render(by_field))
    assert served[1]["lane"] is None
    assert served[1]["archived"] is True
    assert [row["status"] for row in served] == ["FAILED", "PRESIGNED", "FAILED"]


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("after=abc", "after"),
        ("before=-1", "before"),
        ("after=1&before=9", "before"),
        ("page=2", "page"),
    ],
)
def test_a_bad_cursor_is_a_400_that_names_the_parameter(
    operator, operator_client, query, parameter
):
    job = finished_job(operator, 3)
    response = operator_client.get(f"/api/v1/jobs/{job.pk}/objects?{query}")
    assert response.status_code == 400
    assert list(response.json()) == [parameter]


def test_the_schema_declares_the_object_pages_parameters(operator_client):
    schema = operator_client.get("/api/schema?format=json").json()
    operation = schema["paths"]["/api/v1/jobs/{id}/objects"]["get"]
    names = {p["name"] for p in operation["parameters"]}
    assert {"after", "before", "pageSize", "status", "kind"} <= names
    assert "page" not in names
    page = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    body = schema["components"]["schemas"][page.rsplit("/", 1)[1]]["properties"]
    assert set(body) == {"objectsTotal", "next", "previous", "results"}


def test_a_big_jobs_status_and_groups_are_read_from_its_stored_totals(
    operator, operator_client, django_assert_max_num_queries
):
    job = finished_job(operator, 400)
    operator_client.get(f"/api/v1/jobs/{job.pk}")  # counts once, and keeps the totals
    for url in ("", "/fastqs", "/portal-run-ids"):
        with django_assert_max_num_queries(8):
            response = operator_client.get(f"/api/v1/jobs/{job.pk}{url}")
        assert response.status_code == 200
    groups = operator_client.get(f"/api/v1/jobs/{job.pk}/fastqs?pageSize=7").json()
    assert groups["count"] == 200
    assert [r["libraryId"] for r in groups["results"]] == [f"L{2400000 + i:07d}" for i in range(7)]
    status = operator_client.get(f"/api/v1/jobs/{job.pk}").json()
    assert status["verification"] == [
        {"checksumSource": "md5-etag", "label": "MD5 ETag", "objects": 400, "bytes": 4000}
    ]


def test_archived_objects_are_listed_with_a_warning(launch, demo, operator_client):
    body = launch(
        libraryIdList=[ARCHIVED_LIBRARY], dataTypeList=["Fastq"], shareType="pull", dryrun=True
    ).json()
    job = operator_client.get(body["url"]).json()
    assert job["status"] == "SUCCEEDED"
    assert len(job["warnings"]) == 1
    assert "2 archived object(s) not restored" in job["warnings"][0]
    assert "set defrostArchivedFastqs" in job["warnings"][0]
    archived = operator_client.get(f"{body['url']}/objects?archived=true").json()
    assert len(archived["results"]) == 2
    assert {o["storageClass"] for o in archived["results"]} == {"DEEP_ARCHIVE"}


def test_unknown_job_is_404(operator_client):
    assert operator_client.get(f"/api/v1/jobs/{uuid.uuid4()}").status_code == 404
    assert operator_client.get("/api/v1/jobs/1").status_code == 404


def test_jobs_are_listed_newest_first_and_filtered(launch, demo, operator_client):
    first = launch(**DRY_PULL).json()["id"]
    second = launch(**(DRY_PULL | {"libraryIdList": ["L2400003"]})).json()["id"]
    Job.objects.filter(pk=first).update(status="FAILED")
    listed = operator_client.get("/api/v1/jobs").json()
    assert [j["id"] for j in listed["results"]] == [second, first]
    assert [
        j["id"] for j in operator_client.get("/api/v1/jobs?status=FAILED").json()["results"]
    ] == [first]
    assert operator_client.get("/api/v1/jobs?shareType=push").json()["count"] == 0
    assert operator_client.get("/api/v1/jobs?dryrun=true").json()["count"] == 2
    created = Job.objects.get(pk=second).created_at
    after = operator_client.get("/api/v1/jobs", {"createdAfter": created.isoformat()}).json()
    assert [j["id"] for j in after["results"]] == [second]
    assert operator_client.get("/api/v1/jobs?status=DONE").status_code == 400
    both = {"/api/v1/jobs?status=FAILED,SUCCEEDED", "/api/v1/jobs?status=FAILED&status=SUCCEEDED"}
    for url in both:
        assert operator_client.get(url).json()["count"] == 2


def test_status_is_read_only(dry_run, operator_client):
    assert (
        operator_client.put(dry_run["url"], {"status": "FAILED"}, format="json").status_code == 405
    )
    assert (
        operator_client.patch(dry_run["url"], {"status": "FAILED"}, format="json").status_code
        == 405
    )
    assert operator_client.delete(dry_run["url"]).status_code == 405


# --- abort ----------------------------------------------------------------------------------


def test_abort_of_a_pending_job_ends_it_at_once(operator_client, demo):
    # Without the commit hook running, the job stays queued: as if no worker had taken it.
    response = operator_client.post("/api/v1/jobs", DRY_PULL, format="json")
    job_url = response.json()["url"]
    aborted = operator_client.post(f"{job_url}/abort")
    assert aborted.status_code == 202
    assert aborted.json()["status"] == "ABORTED"
    assert run_job(response.json()["id"]) == "ABORTED"  # a worker arriving late does nothing
    assert Job.objects.get().job_objects.count() == 0


def test_abort_of_a_running_job_stops_it_after_the_current_step(operator_client, demo, operator):
    response = operator_client.post("/api/v1/jobs", DRY_PULL, format="json")
    job = Job.objects.get(pk=response.json()["id"])
    assert job.mark_running()
    aborted = operator_client.post(f"{response.json()['url']}/abort").json()
    assert aborted["status"] == "RUNNING"
    assert aborted["abortRequested"] is True
    # The worker that holds the job sees the request between its steps.
    from jobs.dryrun import execute_dry_run
    from sharing_project.errors import JobAborted

    with pytest.raises(JobAborted):
        execute_dry_run(job)
    assert job.mark_aborted()
    assert operator_client.get(response.json()["url"]).json()["status"] == "ABORTED"


def test_abort_of_a_finished_job_is_refused(dry_run, operator_client):
    response = operator_client.post(f"{dry_run['url']}/abort")
    assert response.status_code == 409
    assert "already ended SUCCEEDED" in response.json()["detail"]


def test_running_a_job_twice_is_harmless(dry_run):
    job = Job.objects.get(pk=dry_run["id"])
    objects = job.job_objects.count()
    assert run_job(str(job.pk)) == "SUCCEEDED"
    assert job.job_objects.count() == objects
    assert job.log_lines.filter(message="Succeeded.").count() == 1


def test_a_failing_job_records_its_error(launch, demo, operator_client):
    """A run whose output listing fails ends FAILED with the error's type and message."""
    run = WorkflowRun.objects.filter(workflow_name="wts").first()
    WorkflowRun.objects.filter(pk=run.pk).update(output_uri="s3://no-such-bucket-here/x/")
    body = launch(
        portalRunIdList=[run.portal_run_id],
        dataTypeList=["SecondaryAnalysis"],
        shareType="pull",
        dryrun=True,
    ).json()
    job = operator_client.get(body["url"]).json()
    assert job["status"] == "FAILED"
    assert job["error"]["type"] == "NoSuchBucket"
    assert "NoSuchBucket" in job["error"]["message"]
    assert job["log"][-1]["level"] == "ERROR"


# --- permissions ----------------------------------------------------------------------------


def test_anonymous_users_can_do_nothing(anonymous_client, dry_run):
    assert anonymous_client.get("/api/v1/jobs").status_code == 401
    assert anonymous_client.get(dry_run["url"]).status_code == 401
    assert anonymous_client.post("/api/v1/jobs", DRY_PULL, format="json").status_code == 401
    assert anonymous_client.post(f"{dry_run['url']}/abort").status_code == 401


def test_viewers_can_look_but_not_launch_or_abort(viewer_client, dry_run):
    assert viewer_client.get("/api/v1/jobs").json()["count"] == 1
    assert viewer_client.get(f"{dry_run['url']}/objects").status_code == 200
    refused = viewer_client.post("/api/v1/jobs", DRY_PULL, format="json")
    assert refused.status_code == 403
    assert "Only operators may launch or abort" in refused.json()["detail"]
    assert viewer_client.post(f"{dry_run['url']}/abort").status_code == 403
    assert Job.objects.count() == 1


def test_users_outside_both_groups_cannot_see_jobs(dry_run):
    stranger = User.objects.create_user("sam-stranger", password="pw")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=stranger).key}")
    assert client.get("/api/v1/jobs").status_code == 403
    assert client.get(dry_run["url"]).status_code == 403


def test_a_user_with_the_launch_permission_may_launch(launch, demo):
    from django.contrib.auth.models import Permission

    automation = User.objects.create_user("ci-automation", password="pw")
    automation.user_permissions.add(Permission.objects.get(codename="launch_job"))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=automation).key}")
    assert launch(client, **DRY_PULL).status_code == 202


def test_a_dry_run_warns_what_portal_run_ids_override(launch, demo, operator_client):
    run = WorkflowRun.objects.filter(status=WorkflowRun.Status.SUCCEEDED).first()
    response = launch(
        libraryIdList=["L2400001"],
        dataTypeList=["Fastq", "SecondaryAnalysis"],
        secondaryAnalysisWorkflowList=["umccrise"],
        portalRunIdList=[run.portal_run_id],
        shareType="pull",
        dryrun=True,
    )
    warnings = operator_client.get(response.json()["url"]).json()["warnings"]
    assert any("secondaryAnalysisWorkflowList is not used" in w for w in warnings)
    assert any("libraryIdList does not narrow the secondary analysis" in w for w in warnings)
    plain = launch(**DRY_PULL).json()
    assert operator_client.get(plain["url"]).json()["warnings"] == []
