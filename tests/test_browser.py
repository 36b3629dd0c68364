"""The operator's console in a real browser (Debian's chromium, driven by Playwright).

Each test logs in through the admin's login form and works the pages as a person would: fills
the share form, clicks Dry run and Launch, waits for the status a person would wait for, reads
the tables and follows the links. django-q2 runs in sync mode in the tests, so a dry run, a pull
or a push finishes inside the request that launches it; the waits only cover the page's own
reloads. Screenshots of every step are in test-artifacts/screenshots/.
"""

from __future__ import annotations

import re
import uuid

import pytest
import requests
from django.contrib.auth.models import User
from playwright.sync_api import Locator, Page, expect
from rest_framework.test import APIClient

from catalogue.demo import ARCHIVED_LIBRARY
from jobs.models import Job
from sharelinks.models import ShareLink
from sharing_project.s3.objects import ensure_bucket, list_objects
from tests.support.browser import (  # noqa: F401 (fixtures)
    CSP_VIOLATION,
    browser_fixture,
    csp_violations_fixture,
    login,
    page_fixture,
    snap,
)

pytestmark = pytest.mark.e2e  # chromium

PASSWORD = "pw-for-tests"  # tests/conftest.py's personas
JOB_PAGE = re.compile(r"/admin/jobs/job/([0-9a-f-]{36})/change/$")  # also a JS regex
FINISHED_MS = 30_000
CUP_LIBRARY = "L2400001"  # the first tumour library of the demo's CUP project
COLLABORATOR = "collaborator-bucket"


def job_on_page(page: Page) -> Job:
    """The job whose page the browser shows."""
    match = JOB_PAGE.search(page.url)
    assert match, f"not a job page: {page.url}"
    return Job.objects.get(pk=uuid.UUID(match[1]))


def wait_for_status(page: Page, status: str) -> None:
    """Wait, through the page's own reloads, until the job page shows this status."""
    expect(page).to_have_url(JOB_PAGE)
    expect(page.locator("#job-status")).to_have_attribute(
        "data-status", status, timeout=FINISHED_MS
    )


def scroll_to_top_of(element: Locator) -> None:
    """Scroll so that the element starts at the top of the window (for a screenshot)."""
    element.evaluate("element => element.scrollIntoView()")


def fill_share(
    page: Page,
    *,
    ids: dict[str, str],
    data_types: list[str],
    share_type: str,
    destination: str = "",
) -> None:
    """Fill the share form as a person would: ids typed, boxes ticked, a share type chosen."""
    for name, text in ids.items():
        page.fill(f'textarea[name="{name}"]', text)
    for data_type in data_types:
        page.check(f'input[name="dataTypeList"][value="{data_type}"]')
    page.check(f'input[name="shareType"][value="{share_type}"]')
    if destination:
        page.fill('input[name="shareDestination"]', destination)


def open_share_form(page: Page) -> None:
    page.goto("/admin/jobs/job/add/")
    expect(page.locator("#content h1")).to_contain_text("New share")


def api_launch(user: User, **payload) -> dict:
    """Launch through the REST API as this user; the job runs before the answer comes back."""
    client = APIClient()
    client.force_authenticate(user)
    response = client.post("/api/v1/jobs", payload, format="json")
    assert response.status_code == 202, response.content
    return response.json()


@pytest.mark.django_db(transaction=True)
def test_operator_sees_the_jobs_list(page: Page, live_server, operator: User) -> None:
    login(page, live_server.url, operator.username, PASSWORD)
    page.goto("/admin/jobs/job/")

    expect(page.locator("#content h1")).to_contain_text(re.compile("job", re.IGNORECASE))
    expect(page.locator("a.addlink").first).to_be_visible()  # what a viewer does not get
    snap(page, "smoke-jobs-list")


@pytest.mark.django_db(transaction=True)
def test_operator_dry_runs_then_launches_a_pull(
    page: Page, live_server, operator: User, demo
) -> None:
    login(page, live_server.url, operator.username, PASSWORD)
    snap(page, "pull-01-login")

    open_share_form(page)
    workflow = page.locator('input[name="secondaryAnalysisWorkflowList"][value="tumor-normal"]')
    expect(workflow).to_have_count(1)
    expect(page.locator('input[name="defrostArchivedFastqs"][type="checkbox"]')).to_have_count(1)
    fill_share(
        page,
        ids={"projectIdList": "CUP"},
        data_types=["Fastq", "SecondaryAnalysis"],
        share_type="pull",
    )
    snap(page, "pull-02-share-form")
    page.click('button[name="_dryrun"]')

    wait_for_status(page, "SUCCEEDED")
    dry_run = job_on_page(page)
    assert dry_run.dryrun
    expect(page.locator("#job-progress")).to_be_visible()
    snap(page, "pull-03-dry-run")

    rows = page.locator("table#objects tr.object-row")
    assert rows.count() > 0
    expect(page.locator("table#objects")).to_contain_text(CUP_LIBRARY)
    expect(page.locator("#object-totals")).to_contain_text(str(dry_run.job_objects.count()))
    expect(page.locator("table#fastqs")).to_contain_text(CUP_LIBRARY)
    expect(page.locator("table#portal-runs")).to_be_visible()
    expect(page.locator("#job-log")).not_to_be_empty()
    scroll_to_top_of(page.locator("table#objects"))
    snap(page, "pull-04-objects", full_page=False)

    page.click('button[name="_launch_this"]')
    expect(page).not_to_have_url(re.compile(str(dry_run.pk)))
    wait_for_status(page, "SUCCEEDED")
    pull = job_on_page(page)
    assert (pull.dryrun, pull.share_type) == (False, "pull")
    snap(page, "pull-05-pull-succeeded")

    outputs = page.locator("#outputs")
    lims_csv = outputs.locator("a#link-limsCsv")
    script = outputs.locator("a#link-dataDownloadScript")
    expect(lims_csv).to_have_count(1)
    expect(script).to_have_count(1)
    expect(outputs).to_contain_text(re.compile("expir", re.IGNORECASE))
    expect(page.locator('button[name="_rerun"]')).to_be_visible()
    expect(page.locator('button[name="_new_links"]')).to_be_visible()
    expect(page.locator('button[name="_abort"]')).to_have_count(0)
    scroll_to_top_of(outputs)
    snap(page, "pull-06-outputs", full_page=False)

    csv = requests.get(lims_csv.get_attribute("href"), timeout=10)
    assert csv.status_code == 200
    assert csv.text.startswith("libraryId"), csv.text[:200]
    assert CUP_LIBRARY in csv.text
    downloader = requests.get(script.get_attribute("href"), timeout=10)
    assert downloader.status_code == 200
    assert downloader.text.startswith("#!"), downloader.text[:200]

    page.goto("/admin/jobs/job/")
    expect(page.locator("span.status-badge")).to_have_count(2)
    expect(page.locator(".job-progress")).to_have_count(2)
    snap(page, "pull-07-jobs-list")


@pytest.mark.django_db(transaction=True)
def test_dry_run_marks_archived_objects(page: Page, live_server, operator: User, demo) -> None:
    dry_run = api_launch(
        operator,
        libraryIdList=[ARCHIVED_LIBRARY],
        dataTypeList=["Fastq"],
        shareType="pull",
        dryrun=True,
    )

    login(page, live_server.url, operator.username, PASSWORD)
    page.goto(f"/admin/jobs/job/{dry_run['id']}/change/")
    expect(page.locator("#job-status")).to_have_attribute("data-status", "SUCCEEDED")
    archived = page.locator("table#objects tr.object-row.archived")
    expect(archived.first).to_be_visible()
    expect(archived.first).to_contain_text(ARCHIVED_LIBRARY)
    snap(page, "archived-dry-run")


@pytest.mark.django_db(transaction=True)
def test_share_form_shows_the_apis_message_beside_a_malformed_library_id(
    page: Page, live_server, operator: User, demo
) -> None:
    api = APIClient()
    api.force_authenticate(operator)
    answer = api.post(
        "/api/v1/jobs",
        {
            "libraryIdList": ["not-a-library"],
            "dataTypeList": ["Fastq"],
            "shareType": "pull",
            "dryrun": True,
        },
        format="json",
    )
    assert answer.status_code == 400, answer.content
    messages = answer.json()["libraryIdList"]
    assert messages

    login(page, live_server.url, operator.username, PASSWORD)
    open_share_form(page)
    fill_share(
        page, ids={"libraryIdList": "not-a-library"}, data_types=["Fastq"], share_type="pull"
    )
    page.click('button[name="_dryrun"]')

    errors = page.locator('.form-row:has([name="libraryIdList"]) ul.errorlist')
    expect(errors).to_be_visible()
    for message in messages:
        expect(errors).to_contain_text(str(message))
    expect(page).not_to_have_url(JOB_PAGE)
    assert not Job.objects.exists()
    snap(page, "form-errors-library-id")


@pytest.mark.django_db(transaction=True)
def test_viewer_can_look_but_not_act(
    page: Page, live_server, operator: User, viewer: User, demo
) -> None:
    share = {"projectIdList": ["CUP"], "dataTypeList": ["Fastq"], "shareType": "pull"}
    dry_run = api_launch(operator, **share, dryrun=True)
    pull = api_launch(operator, **share)

    login(page, live_server.url, viewer.username, PASSWORD)
    response = page.goto("/admin/jobs/job/add/")
    assert response is not None
    assert response.status == 403
    snap(page, "viewer-01-share-form-forbidden")

    page.goto("/admin/jobs/job/")
    expect(page.locator("span.status-badge")).to_have_count(2)
    expect(page.locator("a.addlink")).to_have_count(0)
    snap(page, "viewer-02-jobs-list")

    for job, name in ((dry_run, "dry-run"), (pull, "pull")):
        page.goto(f"/admin/jobs/job/{job['id']}/change/")
        expect(page.locator("#job-status")).to_have_attribute("data-status", "SUCCEEDED")
        for action in ("_launch_this", "_abort", "_rerun", "_new_links"):
            expect(page.locator(f'button[name="{action}"]')).to_have_count(0)
        snap(page, f"viewer-03-{name}-page")


@pytest.mark.django_db(transaction=True)
def test_push_is_refused_until_a_dry_run_then_lands_in_the_bucket(
    page: Page, live_server, operator: User, fresh_demo
) -> None:
    ensure_bucket(COLLABORATOR)
    login(page, live_server.url, operator.username, PASSWORD)
    open_share_form(page)
    fill_share(
        page,
        ids={"projectIdList": "CUP"},
        data_types=["Fastq"],
        share_type="push",
        destination=f"s3://{COLLABORATOR}/cup/",
    )
    page.click('button[name="_launch"]')

    refusal = page.locator("#refusal")
    expect(refusal).to_be_visible()
    expect(refusal.locator('button[name="_dryrun"]')).to_be_visible()
    assert not Job.objects.exists()
    snap(page, "push-01-refused")

    refusal.locator('button[name="_dryrun"]').click()
    wait_for_status(page, "SUCCEEDED")
    dry_run = job_on_page(page)
    assert (dry_run.dryrun, dry_run.share_type) == (True, "push")
    expect(page.locator("table#objects tr.object-row").first).to_be_visible()
    assert not list(list_objects(f"s3://{COLLABORATOR}/"))
    snap(page, "push-02-dry-run")

    page.click('button[name="_launch_this"]')
    expect(page).not_to_have_url(re.compile(str(dry_run.pk)))
    wait_for_status(page, "SUCCEEDED")
    push = job_on_page(page)
    assert (push.dryrun, push.share_type) == (False, "push")
    snap(page, "push-03-succeeded")

    landed = {o.key for o in list_objects(f"s3://{COLLABORATOR}/cup/")}
    sent = {f"cup/{path}" for path in push.job_objects.values_list("relative_path", flat=True)}
    assert sent
    assert sent <= landed
    assert any(CUP_LIBRARY in key for key in landed)


@pytest.mark.django_db(transaction=True)
def test_console_and_api_docs_work_under_the_content_security_policy(
    page: Page, live_server, operator: User, demo, csp_violations: list[str]
) -> None:
    """The launch form, a job page, the job list and the API docs, with the policy the
    service sends (settings.py): each is drawn and nothing on it is refused."""
    dry_run = api_launch(
        operator, projectIdList=["CUP"], dataTypeList=["Fastq"], shareType="pull", dryrun=True
    )
    login(page, live_server.url, operator.username, PASSWORD)

    response = page.goto("/admin/jobs/job/add/")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    expect(page.locator('textarea[name="projectIdList"]')).to_be_visible()
    page.goto(f"/admin/jobs/job/{dry_run['id']}/change/")
    expect(page.locator("#job-status")).to_have_attribute("data-status", "SUCCEEDED")
    fill = page.locator("#job-progress progress.job-progress-fill")
    expect(fill).to_have_attribute("value", re.compile(r"^100(\.0)?$"))
    assert fill.bounding_box()["width"] > 100  # the bar is drawn by the stylesheet
    page.goto("/admin/jobs/job/")
    expect(page.locator("span.status-badge")).to_have_count(1)
    page.goto("/api/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Data Sharing Manager API")
    expect(page.locator(".opblock-tag").first).to_be_visible()
    snap(page, "csp-api-docs")

    assert csp_violations == []


@pytest.mark.django_db(transaction=True)
def test_an_inline_script_is_refused_and_reported(
    page: Page, live_server, operator: User, csp_violations: list[str]
) -> None:
    """The watch on the console sees a refusal: an inline script added to the page is not run."""
    login(page, live_server.url, operator.username, PASSWORD)
    with page.expect_console_message(lambda message: "inline script" in message.text) as refusal:
        page.evaluate(
            "() => { const s = document.createElement('script');"
            " s.textContent = 'document.body.dataset.injected = 1';"
            " document.body.appendChild(s); }"
        )
    assert CSP_VIOLATION in refusal.value.text
    expect(page.locator("body")).not_to_have_attribute("data-injected", "1")
    assert csp_violations == [refusal.value.text]
    csp_violations.clear()  # provoked on purpose


@pytest.mark.django_db(transaction=True)
def test_operator_names_a_recipient_and_is_kept_to_their_destinations(
    page: Page, live_server, operator: User, demo, recipient
) -> None:
    ensure_bucket(COLLABORATOR)
    login(page, live_server.url, operator.username, PASSWORD)
    open_share_form(page)
    expect(
        page.locator("fieldset, .module").filter(has_text="For whom, and why").first
    ).to_be_visible()
    fill_share(
        page,
        ids={"libraryIdList": CUP_LIBRARY},
        data_types=["Fastq"],
        share_type="push",
        destination=f"s3://{COLLABORATOR}/elsewhere/",
    )
    page.select_option('select[name="recipientId"]', recipient.recipient_id)
    page.fill('input[name="purpose"]', "DAA-0042")
    page.click('button[name="_dryrun"]')

    expect(page.locator(".errorlist").first).to_contain_text("may receive pushes only under")
    assert not Job.objects.exists()
    snap(page, "recipient-01-refused")

    page.fill('input[name="shareDestination"]', f"s3://{COLLABORATOR}/cup/")
    page.click('button[name="_dryrun"]')
    wait_for_status(page, "SUCCEEDED")
    assert job_on_page(page).recipient == recipient
    expect(page.locator("#content")).to_contain_text("garvan-ccg")
    expect(page.locator("#content")).to_contain_text("DAA-0042")
    expect(page.locator("#content")).not_to_contain_text("not writable")
    snap(page, "recipient-02-dry-run")


@pytest.mark.django_db(transaction=True)
def test_operator_reads_what_was_downloaded_then_revokes_the_link(
    page: Page, live_server, operator: User, link_pull, tmp_path
) -> None:
    import subprocess

    job, script = link_pull()
    share = tmp_path / "share"
    share.mkdir()
    subprocess.run(
        ["bash", str(script), "--data-download-path", str(share)], check=True, timeout=60
    )
    total = job["progress"]["objectsTotal"]

    login(page, live_server.url, operator.username, PASSWORD)
    page.goto(f"/admin/jobs/job/{job['id']}/change/")
    block = page.locator("#share-link")
    expect(block.locator("#share-link-state")).to_have_text("active")
    expect(block.locator("#share-link-receipt")).to_contain_text(
        f"received: {total} of {total} files verified by the collaborator"
    )
    expect(block.locator("#share-link-downloads")).to_contain_text(
        f"files fetched {total} of {total}"
    )
    expect(block.locator("#share-link-accesses tbody tr").first).to_contain_text("receipt")
    scroll_to_top_of(block)
    snap(page, "share-link-01-downloaded", full_page=False)

    expect(page.locator('button[name="_revoke"]')).to_be_hidden()  # behind a second step
    page.click("#revoke-link summary")
    page.fill("#revoke-reason", "sent to the wrong collaborator")
    snap(page, "share-link-02-revoke-form", full_page=False)
    page.click('button[name="_revoke"]')
    expect(page.locator("ul.messagelist")).to_contain_text("Share link revoked")
    expect(page.locator("#share-link-state")).to_have_text("revoked")
    expect(page.locator("#share-link-revoked")).to_contain_text("sent to the wrong collaborator")
    expect(page.locator('button[name="_revoke"]')).to_have_count(0)
    scroll_to_top_of(page.locator("#share-link"))
    snap(page, "share-link-03-revoked", full_page=False)
    token = ShareLink.objects.get(job_id=job["id"]).token
    answer = requests.get(f"{live_server.url}/s/{token}/", timeout=10)
    assert answer.status_code == 403
