"""Pull jobs: the links and their true expiry, archived data, the LIMS CSV, and what never
reaches a log."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import subprocess
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.conf import settings

from catalogue.demo import ARCHIVED_LIBRARY, RUN_A, RUN_B
from catalogue.models import Library, WorkflowRun
from jobs.lims import COLUMNS
from jobs.models import Job, JobObject
from sharing_project.s3.archive import ARCHIVED, archive_state
from sharing_project.s3.objects import get_object_bytes, list_objects

pytestmark = pytest.mark.django_db


def url_expiry(url: str) -> datetime:
    """When a SigV4 presigned URL stops working, read from the URL itself."""
    query = parse_qs(urlsplit(url).query)
    signed = datetime.strptime(query["X-Amz-Date"][0], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    return signed + timedelta(seconds=int(query["X-Amz-Expires"][0]))


def script_urls(script_text: str) -> list[str]:
    return [line.split("\t")[4] for line in script_text.splitlines() if line.count("\t") == 4]


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


@pytest.mark.e2e  # the pull fixture fetches with curl
def test_pull_job_offers_three_links_that_expire_when_their_signatures_say(pull):
    job, script, _csv_file = pull(libraryIdList=["L2400003"], dataTypeList=["Fastq"])
    outputs = job["outputs"]
    expires = parse_time(outputs["dataDownloadScript"]["expiresAt"])
    assert outputs["limsCsv"]["expiresAt"] == outputs["dataDownloadScript"]["expiresAt"]
    assert outputs["checksums"]["expiresAt"] == outputs["dataDownloadScript"]["expiresAt"]
    lifetime = expires - parse_time(job["finishedAt"])
    assert timedelta(days=7) - timedelta(seconds=30) < lifetime <= timedelta(days=7)
    links = [outputs[name]["url"] for name in ("limsCsv", "dataDownloadScript", "checksums")]
    links += script_urls(script.read_text())
    assert len(links) == 3 + 4
    for link in links:
        assert "X-Amz-Algorithm=AWS4-HMAC-SHA256" in link
        assert abs((url_expiry(link) - expires).total_seconds()) <= 2
    assert outputs["dataDownloadScript"]["s3Uri"] == (
        f"s3://{settings.SHARING_BUCKET}/pull/{job['id']}/data-download.sh"
    )
    assert job["progress"]["objectsDone"] == job["progress"]["objectsTotal"] == 4
    assert set(JobObject.objects.filter(job_id=job["id"]).values_list("status", flat=True)) == {
        "PRESIGNED"
    }


@pytest.mark.e2e  # the pull fixture fetches with curl
def test_link_lifetime_follows_the_setting(pull, settings):
    settings.PRESIGNED_URL_LIFETIME_SECONDS = 3600
    job, script, _ = pull(libraryIdList=["L2400003"], dataTypeList=["Fastq"])
    expires = parse_time(job["outputs"]["limsCsv"]["expiresAt"])
    assert timedelta(minutes=59) < expires - parse_time(job["finishedAt"]) <= timedelta(hours=1)
    assert all(
        abs((url_expiry(u) - expires).total_seconds()) <= 2 for u in script_urls(script.read_text())
    )


@pytest.mark.e2e  # the pull fixture fetches with curl
def test_links_signed_with_expiring_credentials_die_with_them(
    pull, settings, monkeypatch, tmp_path
):
    """An assumed role's credentials (here from botocore's credential_process) cut the links
    short; the job, the script and the URLs all say the earlier time."""
    dies = (datetime.now(UTC) + timedelta(hours=2)).replace(microsecond=0)
    process = tmp_path / "credentials.sh"
    process.write_text(
        "#!/bin/sh\ncat <<'EOF'\n"
        + json.dumps(
            {
                "Version": 1,
                "AccessKeyId": "ASIATESTTEMPORARY",
                "SecretAccessKey": "temporary-secret",
                "SessionToken": "temporary-token",
                "Expiration": dies.isoformat(),
            }
        )
        + "\nEOF\n"
    )
    process.chmod(0o755)
    config = tmp_path / "aws-config"
    config.write_text(f"[profile short-lived]\ncredential_process = {process}\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    settings.PRESIGN_AWS_PROFILE = "short-lived"
    job, script, _ = pull(libraryIdList=["L2400003"], dataTypeList=["Fastq"])
    assert parse_time(job["outputs"]["limsCsv"]["expiresAt"]) == dies
    assert all(
        abs((url_expiry(u) - dies).total_seconds()) <= 2 for u in script_urls(script.read_text())
    )
    assert any("PRESIGN_AWS_PROFILE" in w for w in job["warnings"])
    assert dies.strftime("%Y-%m-%d %H:%M:%S UTC") in script.read_text()
    assert "X-Amz-Credential=ASIATESTTEMPORARY" in job["outputs"]["limsCsv"]["url"]


@pytest.mark.e2e  # the pull fixture fetches with curl
def test_links_signed_with_a_session_token_of_unknown_expiry_are_kept_short(
    pull, settings, monkeypatch
):
    monkeypatch.setenv("AWS_SESSION_TOKEN", "token-without-known-expiry")
    settings.TEMPORARY_CREDENTIALS_LIFETIME_SECONDS = 1800
    job, _, _ = pull(libraryIdList=["L2400003"], dataTypeList=["Fastq"])
    lifetime = parse_time(job["outputs"]["limsCsv"]["expiresAt"]) - parse_time(job["finishedAt"])
    assert timedelta(minutes=29) < lifetime <= timedelta(minutes=30)
    assert any("session token" in w for w in job["warnings"])


def test_pull_dry_run_lists_objects_and_makes_no_links(launch, demo, operator_client):
    body = launch(
        libraryIdList=["L2400003"], dataTypeList=["Fastq"], shareType="pull", dryrun=True
    ).json()
    job = operator_client.get(body["url"]).json()
    assert job["status"] == "SUCCEEDED"
    assert job["outputs"] is None
    assert job["progress"]["objectsTotal"] == 4
    assert list(list_objects(f"s3://{settings.SHARING_BUCKET}/pull/{job['id']}/")) == []


@pytest.mark.e2e  # writes the demo's objects to S3 afresh: about a second
def test_archived_fastqs_fail_the_pull_naming_them_and_the_flag(
    launch, fresh_demo, operator_client
):
    body = launch(libraryIdList=[ARCHIVED_LIBRARY], dataTypeList=["Fastq"], shareType="pull").json()
    job = operator_client.get(body["url"]).json()
    assert job["status"] == "FAILED"
    assert job["error"]["type"] == "ArchivedDataError"
    assert "defrostArchivedFastqs: true" in job["error"]["message"]
    archived = [o["sourceUri"] for o in job["error"]["details"]["objects"]]
    assert len(archived) == 2
    assert all(ARCHIVED_LIBRARY in uri for uri in archived)
    assert job["outputs"] is None


@pytest.mark.e2e  # writes the demo's objects to S3 afresh: about a second
def test_defrost_requests_a_restore_and_fails_without_waiting(launch, fresh_demo, operator_client):
    payload = {
        "libraryIdList": [ARCHIVED_LIBRARY],
        "dataTypeList": ["Fastq"],
        "shareType": "pull",
        "defrostArchivedFastqs": True,
    }
    job = operator_client.get(launch(**payload).json()["url"]).json()
    assert job["status"] == "FAILED"
    assert job["error"]["type"] == "DataDefrostingError"
    assert {o["restore"] for o in job["error"]["details"]["objects"]} == {"restore requested"}
    for item in job["error"]["details"]["objects"]:
        assert archive_state(item["sourceUri"]) != ARCHIVED  # the restore is asked
    # The embedded S3 server finishes a restore at once: the same pull now goes through.
    again = operator_client.get(launch(**payload).json()["url"]).json()
    assert again["status"] == "SUCCEEDED", again["error"]


@pytest.mark.e2e  # writes the demo's objects to S3 afresh: about a second
def test_missing_sharing_bucket_fails_the_pull_with_what_to_do(
    launch, fresh_demo, operator_client, s3
):
    s3.delete_bucket(Bucket=settings.SHARING_BUCKET)
    body = launch(libraryIdList=["L2400003"], dataTypeList=["Fastq"], shareType="pull").json()
    job = operator_client.get(body["url"]).json()
    assert job["error"]["type"] == "SharingBucketMissing"
    assert "set SHARING_BUCKET" in job["error"]["message"]


@pytest.mark.e2e  # a whole pull with botocore's debug logging: a second
def test_presigned_links_never_reach_a_log(launch, demo, operator_client, caplog):
    caplog.set_level(logging.DEBUG)
    for name in ("botocore", "boto3", "urllib3", "jobs", "shares", "django_q", "django-q"):
        caplog.set_level(logging.DEBUG, logger=name)
    body = launch(projectIdList=["CUP"], dataTypeList=["Fastq"], shareType="pull").json()
    job = Job.objects.get(pk=body["id"])
    assert job.status == "SUCCEEDED"
    assert "X-Amz-Signature" in job.download_script_url
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert logged  # the pull did log
    assert "X-Amz-Signature" not in logged
    assert job.download_script_url not in logged
    assert all("X-Amz-Signature" not in line.message for line in job.log_lines.all())


# --- the LIMS CSV -----------------------------------------------------------------------------


def read_csv(path) -> list[dict[str, str]]:
    rows = list(csv.DictReader(io.StringIO(path.read_text())))
    assert rows
    assert list(rows[0]) == COLUMNS
    return rows


@pytest.mark.e2e  # the pull fixture fetches with curl
def test_lims_csv_of_a_fastq_share_has_a_row_per_library_and_run(pull):
    _, _, lims = pull(libraryIdList=["L2400001"], dataTypeList=["Fastq"])
    rows = read_csv(lims)
    assert [(r["libraryId"], r["instrumentRunId"], r["portalRunIds"]) for r in rows] == [
        ("L2400001", RUN_A, ""),
        ("L2400001", RUN_B, ""),
    ]
    library = Library.objects.get(library_id="L2400001")
    assert rows[0] | {"instrumentRunId": "", "portalRunIds": ""} == {
        "libraryId": "L2400001",
        "sampleId": library.sample.sample_id,
        "externalSampleId": library.sample.external_sample_id,
        "subjectId": "SN_PMCC-0001",
        "individualId": "SBJ00001",
        "projectId": "CUP;PANCAN",
        "phenotype": "tumor",
        "type": "WGS",
        "assay": "TsqNano",
        "quality": library.quality,
        "workflow": "clinical",
        "instrumentRunId": "",
        "portalRunIds": "",
    }


@pytest.mark.e2e  # the pull fixture fetches with curl
def test_lims_csv_of_a_secondary_share_has_one_row_per_library_without_a_run(pull):
    run = WorkflowRun.objects.filter(
        workflow_name="tumor-normal", libraries__library_id="L2400003"
    ).first()
    _, _, lims = pull(portalRunIdList=[run.portal_run_id], dataTypeList=["SecondaryAnalysis"])
    rows = read_csv(lims)
    assert [(r["libraryId"], r["instrumentRunId"], r["portalRunIds"]) for r in rows] == [
        ("L2400003", "", run.portal_run_id),
        ("L2400004", "", run.portal_run_id),
    ]


@pytest.mark.e2e  # the pull fixture fetches with curl
def test_lims_csv_of_a_mixed_share(pull):
    _, _, lims = pull(libraryIdList=["L2400003"], dataTypeList=["Fastq", "SecondaryAnalysis"])
    rows = read_csv(lims)
    runs = ";".join(
        sorted(
            WorkflowRun.objects.filter(
                libraries__library_id="L2400003", status="SUCCEEDED"
            ).values_list("portal_run_id", flat=True)
        )
    )
    assert [(r["libraryId"], r["instrumentRunId"], r["portalRunIds"]) for r in rows] == [
        ("L2400003", RUN_A, runs),
        ("L2400003", RUN_B, runs),
        ("L2400004", "", runs),  # the normal: shared through the runs it is part of
    ]


@pytest.mark.e2e  # curl, bash, md5sum
def test_a_pull_ships_checksums_that_check_every_file_in_parts_or_not(
    launch, fresh_demo, operator_client, tmp_path
):
    """The BAM uploaded in parts has no MD5 ETag: the service computes one, the script checks
    it, and the checksum list behind the job's third link checks the whole download."""
    from tests.test_checksums import BODY, put_in_parts

    run = WorkflowRun.objects.filter(workflow_name="umccrise").order_by("portal_run_id").first()
    put_in_parts(run.output_uri + "big/tumor.bam", BODY)
    response = launch(
        portalRunIdList=[run.portal_run_id], dataTypeList=["SecondaryAnalysis"], shareType="pull"
    )
    job = operator_client.get(response.json()["url"]).json()
    assert job["status"] == "SUCCEEDED", job["error"]
    assert job["outputs"]["checksums"]["s3Uri"].endswith("/checksums.md5")
    script, checksums = tmp_path / "data-download.sh", tmp_path / "checksums.md5"
    for target, name in ((script, "dataDownloadScript"), (checksums, "checksums")):
        subprocess.run(["curl", "-fsS", "-o", str(target), job["outputs"][name]["url"]], check=True)
    root = tmp_path / "share"
    root.mkdir()
    done = subprocess.run(
        ["bash", str(script), "--data-download-path", str(root)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
    bam = next(root.rglob("tumor.bam"))
    assert bam.read_bytes() == BODY
    lines = checksums.read_text().splitlines()
    assert len(lines) == job["progress"]["objectsTotal"]  # every file has an MD5
    assert f"{hashlib.md5(BODY).hexdigest()}  {bam.relative_to(root)}" in lines
    checked = subprocess.run(
        ["md5sum", "-c", str(checksums)], cwd=root, capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    bam.write_bytes(bytes([BODY[0] ^ 1]) + BODY[1:])
    assert subprocess.run(["md5sum", "-c", "--quiet", str(checksums)], cwd=root).returncode == 1


@pytest.mark.e2e  # curl and bash through a proxy
def test_a_byte_flipped_on_its_way_to_the_script_is_caught_by_name(
    launch, demo, operator_client, tmp_path, s3_endpoint, settings
):
    """The links of this pull point at a proxy that flips the first byte of one object's
    body on every GET: the script names that file, and only it, and exits non-zero."""
    from tests.support.fault_proxy import FaultProxy

    payload = {"libraryIdList": ["L2400003"], "dataTypeList": ["Fastq"], "shareType": "pull"}
    with FaultProxy(s3_endpoint) as proxy:
        settings.AWS_ENDPOINT_URL = proxy.endpoint  # the links are signed for the proxy
        try:
            job = operator_client.get(launch(**payload).json()["url"]).json()
        finally:
            settings.AWS_ENDPOINT_URL = s3_endpoint
        assert job["status"] == "SUCCEEDED", job["error"]
        victim = JobObject.objects.filter(job_id=job["id"]).order_by("position").first()
        proxy.flip_byte_of = "/" + victim.source_uri.removeprefix("s3://")
        script = tmp_path / "data-download.sh"
        subprocess.run(
            ["curl", "-fsS", "-o", str(script), job["outputs"]["dataDownloadScript"]["url"]],
            check=True,
        )
        root = tmp_path / "share"
        root.mkdir()
        done = subprocess.run(
            ["bash", str(script), "--data-download-path", str(root)],
            capture_output=True,
            text=True,
        )
    assert done.returncode != 0
    assert proxy.corrupted >= 1
    output = done.stdout + done.stderr
    assert victim.relative_path in output
    others = JobObject.objects.filter(job_id=job["id"]).exclude(pk=victim.pk)
    for item in others:
        assert item.relative_path not in output.replace(victim.relative_path, "")
        assert (root / item.relative_path).read_bytes() == get_object_bytes(item.source_uri)
    assert not (root / victim.relative_path).exists()  # never moved into place
