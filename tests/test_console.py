"""The operator's console (Django admin): the share form, the job table, the job page and its
actions, and the same permissions as the API."""

from __future__ import annotations

import subprocess
import time

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from catalogue.demo import ARCHIVED_LIBRARY
from jobs.models import Job, JobStatus
from sharing_project.s3.objects import ensure_bucket, put_object
from tests.support.jobs import finished_job

pytestmark = pytest.mark.django_db

ADD = reverse("admin:jobs_job_add")
CHANGELIST = reverse("admin:jobs_job_changelist")
DESTINATION = "s3://collaborator-bucket/console/"
ID_FIELDS = [
    "projectIdList",
    "subjectIdList",
    "individualIdList",
    "libraryIdList",
    "instrumentRunIdList",
    "portalRunIdList",
    "portalRunIdExclusionList",
]


def _browser(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def operator_browser(operator) -> Client:
    return _browser(operator)


@pytest.fixture
def viewer_browser(viewer) -> Client:
    return _browser(viewer)


def form_data(payload: dict, button: str = "_dryrun") -> dict:
    """What a person typing `payload` into the share form posts: ids pasted one per line."""
    data: dict = {button: ""}
    for name, value in payload.items():
        if name in ID_FIELDS:
            data[name] = "\n".join(value)
        elif name == "defrostArchivedFastqs":
            if value:
                data[name] = "on"
        else:
            data[name] = value
    return data


@pytest.fixture
def submit(operator_browser, django_capture_on_commit_callbacks):
    """Post the share form as the operator; queued tasks run once committed."""

    def post(payload: dict, button: str = "_dryrun", client: Client | None = None):
        with django_capture_on_commit_callbacks(execute=True):
            return (client or operator_browser).post(ADD, form_data(payload, button))

    return post


def job_of(response) -> Job:
    assert response.status_code == 302, response.content.decode()[:2000]
    job_id = response["Location"].rstrip("/").split("/")[-2]
    return Job.objects.get(pk=job_id)


def page_text(client: Client, job: Job, query: str = "") -> str:
    response = client.get(reverse("admin:jobs_job_change", args=[job.pk]) + query)
    assert response.status_code == 200
    return response.content.decode()


# --- the share form validates like the API ---------------------------------------------------

CUP_PULL = {"projectIdList": ["CUP"], "dataTypeList": ["Fastq"], "shareType": "pull"}
BAD_INPUTS = [
    pytest.param({**CUP_PULL, "projectIdList": ["cup!"]}, id="malformed-project"),
    pytest.param(
        {"libraryIdList": ["not-a-library"], "dataTypeList": ["Fastq"], "shareType": "pull"},
        id="malformed-library",
    ),
    pytest.param({**CUP_PULL, "libraryIdList": ["L2400001"]}, id="two-metadata-lists"),
    pytest.param(
        {"libraryIdList": ["L2499999"], "dataTypeList": ["Fastq"], "shareType": "pull"},
        id="unknown-library",
    ),
    pytest.param({**CUP_PULL, "dataTypeList": []}, id="no-data-type"),
    pytest.param({k: v for k, v in CUP_PULL.items() if k != "shareType"}, id="no-share-type"),
    pytest.param({**CUP_PULL, "shareType": "push"}, id="push-without-destination"),
    pytest.param({**CUP_PULL, "shareDestination": DESTINATION}, id="pull-with-destination"),
    pytest.param(
        {**CUP_PULL, "shareType": "push", "shareDestination": "ftp://somewhere/"},
        id="bad-destination",
    ),
    pytest.param(
        {**CUP_PULL, "portalRunIdList": ["20240101abcdef01"]}, id="portal-runs-without-secondary"
    ),
    pytest.param(
        {"dataTypeList": ["SecondaryAnalysis"], "shareType": "pull"}, id="no-way-to-find-runs"
    ),
    pytest.param(
        {
            "libraryIdList": ["L2400001"],
            "dataTypeList": ["SecondaryAnalysis"],
            "shareType": "pull",
            "defrostArchivedFastqs": True,
        },
        id="defrost-without-fastq",
    ),
]


@pytest.mark.parametrize("payload", BAD_INPUTS)
def test_the_share_form_shows_the_apis_message_beside_the_same_field(
    payload, submit, operator_client, demo
):
    api = operator_client.post("/api/v1/jobs", payload, format="json")
    assert api.status_code == 400
    response = submit(payload)
    assert response.status_code == 200
    form_errors = {
        field: [str(message) for message in messages]
        for field, messages in response.context["form"].errors.items()
    }
    assert form_errors == api.json()
    for messages in form_errors.values():
        for message in messages:
            assert message in response.content.decode().replace("&#x27;", "'").replace(
                "&quot;", '"'
            )
    assert not Job.objects.exists()


def test_pasted_lists_accept_lines_commas_and_spaces(submit, demo):
    job = job_of(
        submit(
            {
                "libraryIdList": ["L2400001, L2400002", "L2400003 L2400001"],
                "dataTypeList": ["Fastq"],
                "shareType": "pull",
            }
        )
    )
    assert job.config["libraryIdList"] == ["L2400001", "L2400002", "L2400003"]


def test_workflow_choices_show_their_aliases(operator_browser):
    page = operator_browser.get(ADD).content.decode()
    assert "tumor-normal (dragen-wgts-dna)" in page
    assert "cttsov2 (dragen-tso500-ctdna)" in page
    assert 'name="_dryrun"' in page
    assert 'name="_launch"' in page


# --- dry run, review, launch -----------------------------------------------------------------


def test_a_dry_run_from_the_form_lists_its_objects_grouped_with_totals(
    submit, operator_browser, demo
):
    job = job_of(
        submit(
            {
                "projectIdList": ["CUP"],
                "dataTypeList": ["Fastq", "SecondaryAnalysis"],
                "shareType": "pull",
            }
        )
    )
    assert job.dryrun
    assert job.status == JobStatus.SUCCEEDED
    page = page_text(operator_browser, job)
    assert 'data-status="SUCCEEDED"' in page
    assert f"{job.objects_total} objects" in page
    assert 'id="fastqs"' in page
    assert 'id="portal-runs"' in page
    assert page.count('class="object-row') == min(job.objects_total, 50)
    assert 'name="_launch_this"' in page
    first = job.job_objects.order_by("position").first()
    assert first.relative_path in page
    second_page = page_text(operator_browser, job, "?page=2")
    assert job.job_objects.get(position=50).relative_path in second_page


def test_archived_objects_are_highlighted_in_a_dry_run(submit, operator_browser, demo):
    job = job_of(
        submit(
            {"libraryIdList": [ARCHIVED_LIBRARY], "dataTypeList": ["Fastq"], "shareType": "pull"}
        )
    )
    page = page_text(operator_browser, job)
    assert 'class="object-row archived' in page
    assert "archived" in page
    assert "not restored" in page
    assert "defrostArchivedFastqs" in page  # the warning in the log says what to do


def test_a_push_without_a_dry_run_is_refused_and_the_dry_run_is_offered(submit, demo):
    payload = {**CUP_PULL, "shareType": "push", "shareDestination": DESTINATION}
    response = submit(payload, button="_launch")
    assert response.status_code == 200
    page = response.content.decode()
    assert 'id="refusal"' in page
    assert "only after a dry run of exactly this configuration" in page
    refusal = page.split('id="refusal"')[1].split("</div>")[0]
    assert 'name="_dryrun"' in refusal
    assert not Job.objects.exists()
    # the form keeps what was typed, so the offered dry run is of the same configuration
    assert response.context["form"]["projectIdList"].value() == "CUP"


def test_launch_this_pushes_exactly_the_reviewed_dry_run(
    submit, operator_browser, demo, s3_endpoint
):
    ensure_bucket("collaborator-bucket")
    payload = {**CUP_PULL, "shareType": "push", "shareDestination": DESTINATION}
    dry_run = job_of(submit(payload))
    newer = job_of(submit(payload))  # a second dry run of the same configuration
    with_callbacks = operator_browser.post(
        reverse("admin:jobs_job_change", args=[dry_run.pk]), {"_launch_this": ""}
    )
    push = job_of(with_callbacks)
    assert push.source_dry_run.job_id == dry_run.pk != newer.pk
    assert push.objects_total == dry_run.objects_total


@pytest.mark.e2e  # curl
def test_a_pull_from_the_form_offers_both_links_to_copy(submit, operator_browser, demo, tmp_path):
    job = job_of(submit(CUP_PULL, button="_launch"))
    assert job.status == JobStatus.SUCCEEDED
    page = page_text(operator_browser, job)
    assert 'id="link-limsCsv"' in page
    assert 'id="link-dataDownloadScript"' in page
    assert 'data-copy="url-dataDownloadScript"' in page
    csv = tmp_path / "lims.csv"
    subprocess.run(["curl", "-fsS", "-o", str(csv), job.lims_csv_url], check=True)
    assert csv.read_text().startswith("libraryId,")


# --- actions ---------------------------------------------------------------------------------


def _act(client: Client, job: Job, button: str, capture):
    with capture(execute=True):
        return client.post(reverse("admin:jobs_job_change", args=[job.pk]), {button: ""})


@pytest.mark.e2e  # curl and bash
def test_new_links_replace_a_pulls_links_without_resolving_again(
    submit, operator_browser, demo, django_capture_on_commit_callbacks, tmp_path
):
    job = job_of(submit(CUP_PULL, button="_launch"))
    old_script = job.download_script_url
    old_expiry = job.links_expire_at
    objects_before = list(job.job_objects.values_list("pk", flat=True))
    time.sleep(1.1)  # links are signed to the second; a later second signs different links
    response = _act(operator_browser, job, "_new_links", django_capture_on_commit_callbacks)
    assert response.status_code == 302
    job.refresh_from_db()
    assert job.download_script_url != old_script
    assert job.links_expire_at > old_expiry
    assert list(job.job_objects.values_list("pk", flat=True)) == objects_before
    assert job.status == JobStatus.SUCCEEDED
    assert "New links requested by olivia-operator" in page_text(operator_browser, job)
    script = tmp_path / "data-download.sh"
    subprocess.run(["curl", "-fsS", "-o", str(script), job.download_script_url], check=True)
    out = tmp_path / "out"
    out.mkdir()
    run = subprocess.run(
        ["bash", str(script), "--data-download-path", str(out)], capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr
    first = job.job_objects.order_by("position").first()
    assert (out / first.relative_path).stat().st_size == first.size


def test_rerun_launches_a_new_job_of_the_same_request(
    submit, operator_browser, demo, django_capture_on_commit_callbacks
):
    job = job_of(submit(CUP_PULL))
    response = _act(operator_browser, job, "_rerun", django_capture_on_commit_callbacks)
    rerun = job_of(response)
    assert rerun.pk != job.pk
    assert rerun.share_request_id == job.share_request_id
    assert rerun.dryrun
    assert rerun.status == JobStatus.SUCCEEDED
    assert f"Re-run of job {job.pk}" in page_text(operator_browser, rerun)


def test_abort_from_the_job_page_ends_a_pending_job(operator_browser, operator, demo):
    from jobs.services import launch_job

    job = launch_job({**CUP_PULL, "dataTypeList": ["Fastq"]}, dryrun=True, user=operator)
    page = page_text(operator_browser, job)
    assert 'name="_abort"' in page
    assert 'http-equiv="refresh"' in page
    response = operator_browser.post(
        reverse("admin:jobs_job_change", args=[job.pk]), {"_abort": ""}
    )
    assert response.status_code == 302
    job.refresh_from_db()
    assert job.status == JobStatus.ABORTED
    assert 'name="_abort"' not in page_text(operator_browser, job)


def test_a_refused_action_is_explained_on_the_page(submit, operator_browser, demo):
    job = job_of(submit(CUP_PULL))
    response = operator_browser.post(
        reverse("admin:jobs_job_change", args=[job.pk]), {"_abort": ""}, follow=True
    )
    assert "already ended SUCCEEDED" in response.content.decode()


# --- the job table ---------------------------------------------------------------------------


def test_the_job_table_shows_badges_and_progress_and_finds_jobs(submit, operator_browser, demo):
    pull = job_of(submit(CUP_PULL))
    other = job_of(
        submit({"libraryIdList": ["L2400015"], "dataTypeList": ["Fastq"], "shareType": "pull"})
    )
    page = operator_browser.get(CHANGELIST).content.decode()
    assert page.count('class="status-badge status-SUCCEEDED"') == 2
    assert page.count('class="job-progress"') == 2
    by_id = operator_browser.get(CHANGELIST, {"q": str(pull.pk)}).content.decode()
    assert str(pull.pk)[:8] in by_id
    assert str(other.pk)[:8] not in by_id
    by_library = operator_browser.get(CHANGELIST, {"q": "L2400015"}).content.decode()
    assert str(other.pk)[:8] in by_library
    assert str(pull.pk)[:8] not in by_library
    filtered = operator_browser.get(CHANGELIST, {"status__exact": "FAILED"}).content.decode()
    assert str(pull.pk)[:8] not in filtered


# --- permissions -----------------------------------------------------------------------------


def test_viewers_can_look_but_not_launch_abort_or_rerun(
    submit, viewer_browser, viewer, operator, demo
):
    from jobs.services import launch_job

    job = job_of(submit(CUP_PULL, button="_launch"))
    assert viewer_browser.get(ADD).status_code == 403
    assert viewer_browser.post(ADD, form_data(CUP_PULL)).status_code == 403
    assert 'class="addlink"' not in viewer_browser.get(CHANGELIST).content.decode()
    page = page_text(viewer_browser, job)
    assert 'id="link-dataDownloadScript"' in page
    for button in ("_launch_this", "_abort", "_rerun", "_new_links"):
        assert f'name="{button}"' not in page
    pending = launch_job({**CUP_PULL}, dryrun=True, user=operator)
    for button in ("_abort", "_rerun", "_new_links"):
        target = pending if button == "_abort" else job
        url = reverse("admin:jobs_job_change", args=[target.pk])
        assert viewer_browser.post(url, {button: ""}).status_code == 403
    pending.refresh_from_db()
    assert pending.status == JobStatus.PENDING
    assert Job.objects.count() == 2


def test_staff_outside_both_groups_cannot_see_jobs(db, demo):
    outsider = User.objects.create_user("oscar", is_staff=True)
    assert _browser(outsider).get(CHANGELIST).status_code == 403


# --- the API's matching actions --------------------------------------------------------------


def test_rerun_and_new_links_through_the_api(launch, operator_client, viewer_client, demo):
    job = launch(**CUP_PULL).json()
    refused = viewer_client.post(f"/api/v1/jobs/{job['id']}/new-links")
    assert refused.status_code == 403
    renewed = launch_new = None
    renewed = operator_client.post(f"/api/v1/jobs/{job['id']}/new-links")
    assert renewed.status_code == 202
    launch_new = operator_client.post(f"/api/v1/jobs/{job['id']}/rerun")
    assert launch_new.status_code == 202
    assert launch_new.json()["id"] != job["id"]
    assert launch_new.json()["request"] == job["request"]
    dry = launch(**CUP_PULL, dryrun=True).json()
    no_links = operator_client.post(f"/api/v1/jobs/{dry['id']}/new-links")
    assert no_links.status_code == 409
    assert "only for a pull" in no_links.json()["detail"]


def test_a_push_dry_run_page_shows_verification_and_what_a_push_would_overwrite(
    submit, operator_browser, fresh_demo
):
    ensure_bucket("collaborator-bucket")
    payload = {**CUP_PULL, "shareType": "push", "shareDestination": DESTINATION}
    first = job_of(submit(payload))
    taken = first.job_objects.order_by("position").first()
    put_object(taken.destination_uri, b"other bytes")  # something else is there already
    job = job_of(submit(payload))
    page = page_text(operator_browser, job)
    preview = page.split('id="destination-preview">')[1].split("</td>")[0]
    assert "writable; 0 objects already there identical" in preview
    assert "1 there with other content (a push overwrites them)" in preview
    assert 'id="overwrite-note"' in page
    assert "there with other content (a push overwrites it)" in page  # beside the object
    verification = page.split('id="verification">')[1].split("</p>")[0]
    assert f"{job.objects_total} objects" in verification
    assert "by MD5 ETag" in verification


# --- a big job ---------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [10, 3000])
def test_the_job_page_of_a_big_job_asks_a_bounded_number_of_queries(
    operator, operator_browser, django_assert_max_num_queries, n
):
    """Its totals are counted once and kept on the job; its pages of objects are ranges of
    positions: the same queries for ten objects as for thousands."""
    job = finished_job(operator, n, every_failed=3)
    first = page_text(operator_browser, job)
    assert f"{n} objects" in first
    assert f"{len(range(0, n, 3))} failed" in first.lower()
    last = -(-n // 50)
    with django_assert_max_num_queries(12):
        page = page_text(operator_browser, job, f"?page={last}")
    assert job.job_objects.get(position=n - 1).relative_path in page
    assert f"page {last} of {last}" in page or last == 1
    assert page.count('class="object-row') == n - 50 * (last - 1)


def test_a_running_jobs_page_shows_its_progress_and_counts_nothing(
    operator, operator_browser, django_assert_max_num_queries
):
    job = finished_job(operator, 120)
    Job.objects.filter(pk=job.pk).update(status=JobStatus.RUNNING, objects_done=60)
    with django_assert_max_num_queries(12):
        page = page_text(operator_browser, job)
    assert "60 / 120 objects" in page
    assert "once the job has ended" in page
    assert Job.objects.get(pk=job.pk).summary is None
