"""The operator's command line: `share`, `job_status` and `abort_job`, validated, gated and
shown exactly as the API does."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError, OutputWrapper

from jobs import cli
from jobs.models import Job, JobObject, JobStatus
from jobs.tasks import run_job
from shares.contract import LAUNCH_FIELDS
from sharing_project.s3.objects import ensure_bucket, get_object_bytes, head_object

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parent.parent
DRY_PULL = ["--library-id", "L2400001", "--data-type", "Fastq", "--share-type", "pull", "--dryrun"]


def run(*args: str) -> tuple[str, str]:
    """Run a command as `manage.py` would; returns its stdout and stderr."""
    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.fixture
def share(operator, demo, django_capture_on_commit_callbacks):
    """`manage.py share --user <operator> ...`; the queued job runs (sync) once committed.
    Returns stdout, or the job's API body with --json."""

    def launch(*args: str):
        with django_capture_on_commit_callbacks(execute=True):
            out, _err = run("share", "--user", operator.username, *args)
        return json.loads(out) if "--json" in args else out

    return launch


def fields(summary: str) -> dict[str, str]:
    """A summary's labelled lines: label -> value (continuation lines are left out)."""
    labelled = (line.partition(":") for line in summary.splitlines() if not line.startswith(" "))
    return {label: value.strip() for label, _colon, value in labelled}


def refusal(*args: str) -> str:
    """The message of the CommandError a command ends with."""
    with pytest.raises(CommandError) as error:
        run(*args)
    return str(error.value)


def pending_job(operator) -> Job:
    """A launched job that no worker has taken yet (its commit hook never runs)."""
    out, _err = run("share", "--user", operator.username, *DRY_PULL, "--json")
    job = Job.objects.get(pk=json.loads(out)["id"])
    assert job.status == JobStatus.PENDING
    return job


# --- share: launching -----------------------------------------------------------------------


@pytest.mark.usefixtures("transactional_db")
def test_pull_of_a_demo_project_with_wait_and_json_succeeds_with_outputs(operator, demo):
    out, err = run(
        "share",
        "--user",
        operator.username,
        "--project-id",
        "CUP",
        "--data-type",
        "Fastq,SecondaryAnalysis",
        "--share-type",
        "pull",
        "--wait",
        "--interval",
        "0.1",
        "--json",
    )
    job = json.loads(out)
    assert job["status"] == "SUCCEEDED", job["error"]
    assert job["request"]["projectIdList"] == ["CUP"]
    assert job["request"]["dataTypeList"] == ["Fastq", "SecondaryAnalysis"]
    assert job["url"] == f"/api/v1/jobs/{job['id']}"
    total = job["progress"]["objectsTotal"]
    assert total > 50
    assert job["progress"]["objectsDone"] == total
    for link in job["outputs"].values():
        assert link["url"].startswith("http")
        assert head_object(link["s3Uri"]).size > 0
    # Not a terminal: one progress line per change, the last one complete.
    assert "\r" not in err
    size = cli.human_bytes(job["progress"]["bytesTotal"])
    assert err.splitlines()[-1].endswith(
        f"100.0%  {total}/{total} objects  {size}/{size}  SUCCEEDED"
    )


def test_comma_separated_and_repeated_ids_combine(share):
    job = share(
        "--library-id",
        "L2400003,L2400001",
        "--library-id",
        " L2400002 ,",
        "--data-type",
        "fastq",
        "--data-type",
        "SecondaryAnalysis",
        "--workflow",
        "dragen-wgts-dna,umccrise",
        "--share-type",
        "pull",
        "--dry-run",
        "--json",
    )
    assert job["request"]["libraryIdList"] == ["L2400001", "L2400002", "L2400003"]
    assert job["request"]["dataTypeList"] == ["Fastq", "SecondaryAnalysis"]
    assert job["request"]["secondaryAnalysisWorkflowList"] == ["tumor-normal", "umccrise"]
    assert job["dryrun"] is True
    assert Job.objects.get(pk=job["id"]).status == JobStatus.SUCCEEDED


def test_the_default_output_is_a_short_summary_that_says_how_to_follow_the_job(operator, demo):
    out, _err = run("share", "--user", operator.username, *DRY_PULL)
    job = Job.objects.get()
    summary = fields(out)
    assert summary["Job"] == str(job.pk)
    assert summary["Status"] == "PENDING"
    assert summary["Share type"] == "pull"
    assert summary["Dry run"] == "yes"
    assert summary["Launched"].startswith(f"by {operator.username} at ")
    assert summary["Follow it"] == f"python manage.py job_status {job.pk} --wait"


def test_a_malformed_id_is_refused_naming_its_option_and_nothing_is_queued(operator, demo):
    message = refusal(
        "share", "--user", operator.username, "--library-id", "L2400001,LIB-1", *DRY_PULL[2:]
    )
    assert "--library-id: Malformed: 'LIB-1'. Enter a valid library id" in message
    assert "nothing was queued" in message
    assert not Job.objects.exists()


def test_every_bad_option_is_listed(operator, demo):
    message = refusal(
        "share",
        "--user",
        operator.username,
        "--library-id",
        "LIB-1",
        "--data-type",
        "Fastx",
        "--share-type",
        "pull",
    )
    assert "--library-id: Malformed: 'LIB-1'." in message
    assert "--data-type: Unknown data type(s) 'Fastx'; use Fastq and/or SecondaryAnalysis." in (
        message
    )


def test_two_metadata_options_name_the_second_in_option_names(operator, demo):
    message = refusal("share", "--user", operator.username, "--project-id", "CUP", *DRY_PULL)
    assert (
        "--project-id: Cannot be used with --library-id; give only one of --library-id, "
        "--subject-id, --individual-id, --project-id."
    ) in message
    assert "libraryIdList" not in message


def test_a_missing_data_type_is_refused_with_the_apis_message_under_the_option(
    operator, demo, operator_client
):
    message = refusal(
        "share", "--user", operator.username, "--library-id", "L2400001", "--share-type", "pull"
    )
    api = operator_client.post(
        "/api/v1/jobs", {"libraryIdList": ["L2400001"], "shareType": "pull"}, format="json"
    )
    assert api.status_code == 400
    assert message.splitlines()[1:] == [
        f"  --data-type: {text}" for text in api.json()["dataTypeList"]
    ]


def test_a_push_without_a_destination_names_that_option(operator, demo):
    message = refusal(
        "share",
        "--user",
        operator.username,
        "--library-id",
        "L2400001",
        "--data-type",
        "Fastq",
        "--share-type",
        "push",
        "--dryrun",
    )
    assert "--share-destination: Required for a push: give s3://bucket/prefix/" in message
    assert not Job.objects.exists()


def test_a_push_without_a_dry_run_is_refused_by_the_gate_and_nothing_is_queued(operator, demo):
    message = refusal(
        "share",
        "--user",
        operator.username,
        "--library-id",
        "L2400001",
        "--data-type",
        "Fastq",
        "--share-type",
        "push",
        "--share-destination",
        "s3://collaborator-bucket/never/",
    )
    assert "This push has no successful dry run of the same configuration" in message
    assert "run the same command with --dryrun first" in message
    assert not Job.objects.exists()


def test_a_dry_run_then_the_push_lands_the_dry_runs_objects_in_the_destination(share):
    ensure_bucket("collaborator-bucket")
    destination = f"s3://collaborator-bucket/cli-{uuid.uuid4().hex[:8]}/"
    push = ["--library-id", "L2400001", "--data-type", "Fastq", "--share-type", "push"]
    push += ["--share-destination", destination, "--json"]
    dry = share(*push, "--dryrun")
    assert Job.objects.get(pk=dry["id"]).status == JobStatus.SUCCEEDED
    job = share(*push)
    assert job["dryRunJobId"] == dry["id"]
    assert Job.objects.get(pk=job["id"]).status == JobStatus.SUCCEEDED
    objects = JobObject.objects.filter(job_id=job["id"])
    assert objects.count() == JobObject.objects.filter(job_id=dry["id"]).count() > 0
    for item in objects:
        assert item.status == JobObject.Status.COPIED
        assert item.destination_uri == destination + item.relative_path
        assert get_object_bytes(item.destination_uri) == get_object_bytes(item.source_uri)


# --- who may run them -----------------------------------------------------------------------


def test_a_viewer_may_not_launch(viewer, demo):
    message = refusal("share", "--user", viewer.username, *DRY_PULL)
    assert "User 'victor-viewer' may not launch or abort shares" in message
    assert "ask for the operators group" in message
    assert not Job.objects.exists()


def test_a_viewer_may_not_abort(viewer, operator, demo):
    job = pending_job(operator)
    message = refusal("abort_job", str(job.pk), "--user", viewer.username)
    assert "User 'victor-viewer' may not launch or abort shares" in message
    job.refresh_from_db()
    assert job.status == JobStatus.PENDING


def test_without_user_or_dsm_cli_user_the_command_says_to_pass_user(demo, monkeypatch):
    monkeypatch.delenv("DSM_CLI_USER", raising=False)
    message = refusal("share", *DRY_PULL)
    assert "pass --user USERNAME (or set DSM_CLI_USER)" in message
    assert not Job.objects.exists()


def test_dsm_cli_user_names_the_launcher_when_user_is_not_given(operator, demo, monkeypatch):
    monkeypatch.setenv("DSM_CLI_USER", operator.username)
    out, _err = run("share", *DRY_PULL, "--json")
    assert json.loads(out)["launchedBy"] == operator.username


def test_an_unknown_or_inactive_user_is_refused_naming_them(operator, demo):
    assert "User 'nobody' does not exist" in refusal("share", "--user", "nobody", *DRY_PULL)
    operator.is_active = False
    operator.save()
    assert "User 'olivia-operator' is not active" in refusal(
        "share", "--user", operator.username, *DRY_PULL
    )
    assert not Job.objects.exists()


# --- waiting --------------------------------------------------------------------------------


@pytest.mark.usefixtures("transactional_db")
def test_wait_on_a_push_that_fails_exits_1_naming_the_status_and_error(operator, demo):
    push = ["--user", operator.username, "--library-id", "L2400001", "--data-type", "Fastq"]
    push += ["--share-type", "push", "--share-destination", "s3://no-such-destination-bucket/in/"]
    run("share", *push, "--dryrun")
    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(CommandError) as error:
        call_command("share", *push, "--wait", "--interval", "0.1", stdout=out, stderr=err)
    assert error.value.returncode == 1
    message = str(error.value)
    assert "ended FAILED: DestinationNotWritable:" in message
    assert "s3://no-such-destination-bucket/in/" in message
    summary = fields(out.getvalue())  # the final report is printed before the exit
    assert summary["Status"] == "FAILED"
    assert summary["Error"].startswith("DestinationNotWritable: ")
    assert err.getvalue().rstrip().endswith("FAILED")


def test_wait_polls_until_the_job_ends_showing_each_change(operator, demo):
    job = pending_job(operator)
    err = io.StringIO()
    bar = cli.ProgressBar(OutputWrapper(err))
    reads = []

    def worker_takes_it(seconds: float) -> None:
        reads.append(seconds)
        run_job(str(job.pk))

    finished = cli.wait_for(job, 0.5, bar.show, sleep=worker_takes_it)
    assert finished.status == JobStatus.SUCCEEDED
    assert reads == [0.5]
    first, last = err.getvalue().splitlines()
    assert first.endswith("  0.0%  0/0 objects  0 B/0 B  PENDING")
    assert last.endswith("100.0%  4/4 objects  1.0 KiB/1.0 KiB  SUCCEEDED")


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_progress_bar_redraws_in_place_on_a_terminal_and_skips_repeats():
    screen = Terminal()
    bar = cli.ProgressBar(OutputWrapper(screen))
    job = Job(status=JobStatus.RUNNING, objects_total=4, bytes_total=4096)
    bar.show(job)
    bar.show(job)  # nothing changed: nothing drawn
    job.objects_done, job.bytes_done = 1, 1024
    bar.show(job)
    job.status, job.objects_done, job.bytes_done = JobStatus.SUCCEEDED, 4, 4096
    bar.show(job)
    bar.close()
    drawn = screen.getvalue()
    assert drawn.count("\r") == 3
    assert drawn.endswith("\n")
    assert drawn.count("\n") == 1  # only the line close() ends
    frames = drawn.strip().split("\r")
    assert frames[0] == "[------------------------------]   0.0%  0/4 objects  0 B/4.0 KiB  RUNNING"
    assert frames[1].startswith("[########----------------------]  25.0%  1/4 objects  1.0 KiB")
    assert frames[2].startswith("[##############################] 100.0%  4/4 objects")
    assert "\x1b" not in drawn  # not in the error colour Django gives a terminal's stderr


# --- job_status -----------------------------------------------------------------------------


def test_job_status_json_is_the_apis_body(share, operator_client):
    job = share(*DRY_PULL, "--json")
    out, _err = run("job_status", job["id"], "--json")
    mine = json.loads(out)
    api = operator_client.get(f"/api/v1/jobs/{job['id']}").json()
    assert mine["status"] == "SUCCEEDED"
    assert urlsplit(api.pop("url")).path == mine.pop("url")
    assert mine == api


def test_job_status_reports_progress_counts_and_the_pulls_links(share):
    job = share(
        "--library-id", "L2400003", "--data-type", "Fastq", "--share-type", "pull", "--json"
    )
    out, _err = run("job_status", job["id"])
    body = Job.objects.get(pk=job["id"])
    summary = fields(out)
    assert summary["Status"] == "SUCCEEDED"
    assert summary["Progress"].startswith("[##############################] 100.0%  4/4 objects")
    assert summary["Shares"] == "4 object(s) (4 PRESIGNED), 2 fastq list row(s), 0 portal run(s)"
    assert summary["Download script"] == body.download_script_url
    assert summary["LIMS CSV"] == body.lims_csv_url
    expiry = body.links_expire_at.strftime("%Y-%m-%dT%H:%M:%S")
    assert f"expires {expiry}" in out
    assert "Error" not in summary


def test_job_status_shows_the_error_of_a_failed_job_and_still_exits_0(share):
    ensure_bucket("collaborator-bucket")
    push = ["--library-id", "L2400001", "--data-type", "Fastq", "--share-type", "push"]
    push += ["--share-destination", "s3://no-such-destination-bucket/x/", "--json"]
    share(*push, "--dryrun")
    job = share(*push)
    out, _err = run("job_status", job["id"])  # no CommandError: it reports
    summary = fields(out)
    assert summary["Status"] == "FAILED"
    assert summary["Error"].startswith("DestinationNotWritable: ")


def test_job_status_objects_lists_each_object_and_as_json_the_apis_items(share, operator_client):
    job = share(*DRY_PULL, "--json")
    out, _err = run("job_status", job["id"], "--objects")
    lines = out.splitlines()
    assert lines[0].split() == ["STATUS", "SIZE", "RELATIVE", "PATH", "DESTINATION"]
    objects = JobObject.objects.filter(job_id=job["id"]).order_by("position")
    assert len(lines) == 1 + objects.count() + 1
    for line, item in zip(lines[1:], objects, strict=False):
        assert line.split() == ["LISTED", str(item.size), item.relative_path, "-"]
    total = sum(item.size for item in objects)
    assert lines[-1].startswith(f"{objects.count()} object(s), {total} bytes")
    as_json, _err = run("job_status", job["id"], "--objects", "--json")
    api = operator_client.get(f"/api/v1/jobs/{job['id']}/objects?pageSize=1000").json()
    assert json.loads(as_json) == api["results"]


def test_job_status_of_an_unknown_or_malformed_id_names_it(db):
    unknown = str(uuid.uuid4())
    assert f"No job with id '{unknown}'" in refusal("job_status", unknown)
    assert "'12345' is not a job id" in refusal("job_status", "12345")


@pytest.mark.usefixtures("transactional_db")
def test_job_status_wait_on_a_finished_job_prints_the_report(operator, demo):
    out, _err = run("share", "--user", operator.username, *DRY_PULL, "--json")
    status, progress = run("job_status", json.loads(out)["id"], "--wait", "--interval", "0.1")
    assert fields(status)["Status"] == "SUCCEEDED"
    assert progress.rstrip().endswith("SUCCEEDED")


def test_wait_with_a_timeout_gives_up_on_a_job_no_worker_takes(operator, demo):
    job = pending_job(operator)
    with pytest.raises(CommandError) as error:
        run("job_status", str(job.pk), "--wait", "--interval", "0.05", "--timeout", "0.2")
    assert error.value.returncode == 124
    assert f"Job {job.pk} is still PENDING after 0.2 s" in str(error.value)
    job.refresh_from_db()
    assert job.status == JobStatus.PENDING  # only the waiting stopped


# --- abort_job ------------------------------------------------------------------------------


def test_abort_of_a_pending_job_ends_it_aborted(operator, demo):
    job = pending_job(operator)
    out, _err = run("abort_job", str(job.pk), "--user", operator.username)
    assert fields(out)["Status"] == "ABORTED"
    job.refresh_from_db()
    assert job.status == JobStatus.ABORTED
    assert run_job(str(job.pk)) == "ABORTED"  # a worker arriving late does nothing
    assert job.log_lines.filter(message=f"Aborted by {operator.username} before it started.")


def test_abort_of_a_finished_job_is_refused_with_the_services_message(share, operator):
    job = share(*DRY_PULL, "--json")
    message = refusal("abort_job", job["id"], "--user", operator.username)
    assert message == "The job already ended SUCCEEDED; there is nothing to abort."


def test_abort_of_an_unknown_job_names_it(operator):
    unknown = str(uuid.uuid4())
    assert f"No job with id '{unknown}'" in refusal(
        "abort_job", unknown, "--user", operator.username
    )


# --- the real manage.py ---------------------------------------------------------------------


def manage(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.e2e  # manage.py in its own process
def test_manage_py_share_help_lists_an_option_for_every_launch_field():
    result = manage("share", "--help")
    assert result.returncode == 0, result.stderr
    for option in [f"--{field.option}" for field in LAUNCH_FIELDS] + [
        "--share-type",
        "--library-id",
        "--dry-run",
        "--user",
        "--json",
        "--wait",
        "--interval",
    ]:
        assert re.search(rf"{option}(?![\w-])", result.stdout), option


@pytest.mark.e2e
def test_manage_py_job_status_of_a_malformed_id_exits_non_zero_without_a_database():
    """The id is checked before any query, so this needs no migrated database."""
    result = manage("job_status", "not-a-uuid")
    assert result.returncode == 1
    assert "CommandError: 'not-a-uuid' is not a job id" in result.stderr
    assert result.stdout == ""
