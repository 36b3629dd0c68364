"""GA4GH DRS 1.2 on the share links: a real pull share, read over HTTP from the service on
loopback (a live server) with the share's token as bearer token, the bytes fetched from the real
S3 server behind it; and the GA4GH DRS compliance suite run against it (docs/drs.md)."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import subprocess
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
import requests
from django.utils import timezone

from jobs.models import JobObject
from ops.logs import redact
from sharelinks.models import ShareAccess, ShareLink, Via
from sharelinks.services import revoke
from sharing_project.s3.client import client as s3_client
from sharing_project.s3.objects import get_object_bytes
from sharing_project.s3.uris import parse_s3_uri

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e]

ROOT = Path(__file__).resolve().parent.parent
SUITE = ROOT / ".venv-drs" / "bin" / "drs-compliance-suite"
KEPT_REPORT = ROOT / "test-artifacts" / "drs-compliance-report.json"  # the last run's
SHIM = Path(__file__).resolve().parent / "drs" / "shim"
ONE_LIBRARY = {"libraryIdList": ["L2400003"], "dataTypeList": ["Fastq", "SecondaryAnalysis"]}
OTHER_LIBRARY = {"libraryIdList": ["L2400004"], "dataTypeList": ["Fastq"]}


@pytest.fixture
def share(launch, operator_client, live_server, settings):
    """Launch a pull with PUBLIC_BASE_URL set to the live server; returns its share link (with
    the demo catalogue in S3 from `demo` or `fresh_demo`, which each test asks for)."""
    settings.PUBLIC_BASE_URL = live_server.url

    def make(**payload) -> ShareLink:
        response = launch(shareType="pull", **(payload or ONE_LIBRARY))
        assert response.status_code == 202, response.content
        job = operator_client.get(response.json()["url"]).json()
        assert job["status"] == "SUCCEEDED", job
        return ShareLink.objects.select_related("job").get(job_id=job["id"])

    return make


@pytest.fixture
def drs(live_server):
    """GET a DRS path on the live server, with a bearer token when given one."""

    def get(path: str, token: str | None = None, **kwargs) -> requests.Response:
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        headers.update(kwargs.pop("headers", {}))
        return requests.get(
            f"{live_server.url}/ga4gh/drs/v1/{path}", headers=headers, timeout=30, **kwargs
        )

    return get


def files_of(link: ShareLink) -> list[JobObject]:
    return list(JobObject.objects.filter(job_id=link.job_id).order_by("position"))


# --- the compliance suite ---------------------------------------------------------------------


def suite_config(link: ShareLink, path: Path) -> Path:
    """The suite's config: service-info without auth; the share as a bundle and two of its
    files with the token as bearer token; the two files' access."""
    files = [f"{link.job_id}.{item.position}" for item in files_of(link)[:2]]
    bearer = {"auth_type": "bearer", "auth_token": link.token}
    config = {
        "service_info": {"auth_type": "none", "auth_token": ""},
        "drs_object_info": [
            {"drs_id": str(link.job_id), "is_bundle": True, **bearer},
            *({"drs_id": file, "is_bundle": False, **bearer} for file in files),
        ],
        "drs_object_access": [{"drs_id": file, **bearer} for file in files],
    }
    path.write_text(json.dumps(config, indent=2))
    return path


def run_suite(base_url: str, config: Path, workdir: Path) -> dict:
    """The suite's report, run as a collaborator would run it (it writes ./output: `workdir`)."""
    if not SUITE.exists():
        pytest.fail(f"{SUITE} is missing: run `make drs-suite` (make test does) to install it.")
    report = workdir / "report.json"
    env = {**os.environ, "PYTHONPATH": str(SHIM)}
    arguments = {
        "--server_base_url": f"{base_url}/ga4gh/drs/v1",
        "--platform_name": "Data Sharing Manager",
        "--platform_description": "pull shares served as GA4GH DRS (tests/test_drs.py)",
        "--drs_version": "1.2.0",
        "--config_file": str(config),
        "--report_path": str(report),
    }
    result = subprocess.run(
        [str(SUITE), *(part for pair in arguments.items() for part in pair)],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(report.read_text())


def report_cases(report: dict) -> list[tuple[str, str, str, str]]:
    """(phase, case, status, message) for every case of the report."""
    return [
        (phase["phase_name"], case["case_name"], case["status"], case.get("message", ""))
        for phase in report["phases"]
        for test in phase["tests"]
        for case in test["cases"]
    ]


# The one case the suite itself marks not applicable: a bundle need not have access methods.
NOT_APPLICABLE = {("drs object info", "DRS Object Info has access information")}


def test_compliance_suite_passes_every_check(demo, share, live_server, tmp_path):
    link = share()
    report = run_suite(live_server.url, suite_config(link, tmp_path / "config.json"), tmp_path)
    cases = report_cases(report)
    summary = Counter((phase, status) for phase, _, status, _ in cases)
    print("\nDRS compliance suite 1.0.3:")
    for (phase, status), count in sorted(summary.items()):
        print(f"  {phase}: {status} {count}")
    KEPT_REPORT.parent.mkdir(parents=True, exist_ok=True)
    KEPT_REPORT.write_text(json.dumps(report, indent=2))
    failed = [case for case in cases if case[2] not in ("PASS", "SKIP")]
    assert failed == []
    skipped = {(phase, name) for phase, name, status, _ in cases if status == "SKIP"}
    assert skipped <= NOT_APPLICABLE
    assert len(skipped) == 1  # the bundle's access-methods case, and nothing else
    phases = {phase for phase, *_ in cases}
    assert phases == {"service info", "drs object info", "drs object access"}
    # two files' access, three cases each
    assert summary[("drs object access", "PASS")] == 6


def test_compliance_suite_fails_a_token_that_is_not_the_shares(demo, share, live_server, tmp_path):
    """The suite's verdict can fail: with a wrong token every object case fails."""
    link = share()
    config = suite_config(link, tmp_path / "config.json")
    config.write_text(config.read_text().replace(link.token, "not-the-token-of-this-share"))
    cases = report_cases(run_suite(live_server.url, config, tmp_path))
    statuses = {status for phase, _, status, _ in cases if phase == "drs object info"}
    assert "FAIL" in statuses


# --- service-info -----------------------------------------------------------------------------


def test_service_info_names_drs_1_2_and_the_organisation(drs, live_server, settings):
    settings.PUBLIC_BASE_URL = live_server.url
    settings.DRS_ORGANIZATION_NAME = "UMCCR"
    response = drs("service-info")
    assert response.status_code == 200
    info = response.json()
    assert info["type"] == {"group": "org.ga4gh", "artifact": "drs", "version": "1.2.0"}
    assert info["organization"] == {"name": "UMCCR", "url": live_server.url}
    allowed = {
        "id", "name", "type", "description", "organization", "contactUrl", "documentationUrl",
        "createdAt", "updatedAt", "environment", "version",
    }  # fmt: skip
    assert set(info) <= allowed


# --- objects ----------------------------------------------------------------------------------


def test_bundle_lists_every_file_with_the_drs_bundle_checksum(demo, share, drs, live_server):
    link = share()
    files = files_of(link)
    response = drs(f"objects/{link.job_id}", link.token)
    assert response.status_code == 200, response.text
    bundle = response.json()
    host = live_server.url.split("://", 1)[1]
    assert bundle["self_uri"] == f"drs://{host}/{link.job_id}"
    assert bundle["size"] == sum(item.size for item in files)
    assert [c["name"] for c in bundle["contents"]] == [item.relative_path for item in files]
    assert bundle["contents"][0]["drs_uri"] == [f"drs://{host}/{link.job_id}.{files[0].position}"]
    # md5(concat(sort(md5 of each file))), computed here from the bytes themselves
    digests = sorted(hashlib.md5(get_object_bytes(item.source_uri)).hexdigest() for item in files)
    expected = hashlib.md5("".join(digests).encode()).hexdigest()
    assert {"type": "md5", "checksum": expected} in bundle["checksums"]
    assert drs(f"objects/{link.job_id}?expand=true", link.token).json() == bundle


def test_file_object_has_its_checksums_and_https_access(demo, share, drs, live_server):
    link = share()
    item = files_of(link)[1]
    response = drs(f"objects/{link.job_id}.{item.position}", link.token)
    assert response.status_code == 200, response.text
    found = response.json()
    data = get_object_bytes(item.source_uri)
    assert found["id"] == f"{link.job_id}.{item.position}"
    assert found["name"] == item.relative_path.rsplit("/", 1)[-1]
    assert found["size"] == len(data)
    # as recorded by the pull (the demo's: MD5 from its ETag), each one true of the bytes
    digests = {"sha-256": hashlib.sha256, "md5": hashlib.md5}
    assert [c["type"] for c in found["checksums"]] == ["md5"]
    for checksum in found["checksums"]:
        assert checksum["checksum"] == digests[checksum["type"]](data).hexdigest()
    assert found["access_methods"] == [{"type": "https", "access_id": "https"}]


def test_recorded_sha256_is_listed_first_and_makes_a_bundle_checksum(demo, share, drs):
    link = share()
    files = files_of(link)
    sha256 = {}
    for item in files:
        sha256[item.pk] = hashlib.sha256(get_object_bytes(item.source_uri)).hexdigest()
        JobObject.objects.filter(pk=item.pk).update(sha256=sha256[item.pk])
    found = drs(f"objects/{link.job_id}.{files[0].position}", link.token).json()
    assert found["checksums"][0] == {"type": "sha-256", "checksum": sha256[files[0].pk]}
    assert found["checksums"][1]["type"] == "md5"
    bundle = drs(f"objects/{link.job_id}", link.token).json()
    expected = hashlib.sha256("".join(sorted(sha256.values())).encode()).hexdigest()
    assert bundle["checksums"][0] == {"type": "sha-256", "checksum": expected}


def test_access_url_downloads_the_exact_bytes(demo, share, drs):
    link = share()
    for item in files_of(link)[:2]:
        response = drs(f"objects/{link.job_id}.{item.position}/access/https", link.token)
        assert response.status_code == 200, response.text
        fetched = requests.get(response.json()["url"], timeout=30)
        assert fetched.status_code == 200
        assert fetched.content == get_object_bytes(item.source_uri)


def test_file_checksum_falls_back_to_the_etag_when_none_is_known(demo, share, drs):
    link = share()
    item = files_of(link)[0]
    JobObject.objects.filter(pk=item.pk).update(md5="", sha256="")
    found = drs(f"objects/{link.job_id}.{item.position}", link.token).json()
    assert found["checksums"] == [{"type": "etag", "checksum": item.etag.strip('"')}]


# --- refusals ---------------------------------------------------------------------------------


def test_without_a_bearer_token_answers_401(demo, share, drs):
    link = share()
    for headers in ({}, {"Authorization": f"Basic {link.token}"}, {"Authorization": "Bearer "}):
        response = drs(f"objects/{link.job_id}", headers=headers)
        assert response.status_code == 401
        assert response.json()["status_code"] == 401
        assert "Authorization: Bearer" in response.json()["msg"]
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert drs(f"objects/{link.job_id}", link.token).status_code == 200


def test_unknown_token_and_another_shares_object_answer_the_same_404(demo, share, drs):
    mine, other = share(), share(**OTHER_LIBRARY)
    theirs = f"objects/{other.job_id}.0"
    with_my_token = drs(theirs, mine.token)
    with_unknown_token = drs(theirs, "x" * 43)
    assert with_my_token.status_code == with_unknown_token.status_code == 404
    assert with_my_token.content == with_unknown_token.content
    assert drs(f"objects/{other.job_id}", mine.token).status_code == 404
    assert drs(f"objects/{other.job_id}.0/access/https", mine.token).status_code == 404
    assert drs(theirs, other.token).status_code == 200


def test_revoked_share_answers_403_with_the_custodians_message(demo, share, drs, operator):
    link = share()
    revoke(link, operator, "sent to the wrong collaborator")
    link.refresh_from_db()
    response = drs(f"objects/{link.job_id}.0/access/https", link.token)
    assert response.status_code == 403
    assert response.json() == {"msg": link.revoked_message(), "status_code": 403}


def test_expired_share_answers_403_saying_it_expired(demo, share, drs):
    link = share()
    ShareLink.objects.filter(pk=link.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    link.refresh_from_db()
    response = drs(f"objects/{link.job_id}", link.token)
    assert response.status_code == 403
    assert response.json()["msg"] == link.expired_message()


def test_malformed_ids_answer_400(demo, share, drs):
    link = share()
    for bad in ("not-an-id", f"{link.job_id}.x", f"{link.job_id}.-1", f"{link.job_id}.0.1"):
        response = drs(f"objects/{bad}", link.token)
        assert response.status_code == 400, bad
        assert "object_id" in response.json()["msg"]


def test_a_bundle_or_an_unknown_access_id_has_no_access(demo, share, drs):
    link = share()
    assert drs(f"objects/{link.job_id}/access/https", link.token).status_code == 404
    assert drs(f"objects/{link.job_id}.0/access/s3", link.token).status_code == 404
    assert drs(f"objects/{link.job_id}.999/access/https", link.token).status_code == 404
    assert drs(f"objects/{link.job_id}.0/access/https", link.token).status_code == 200


# --- archived since the share was made --------------------------------------------------------


def archive(item: JobObject) -> None:
    """Move the object to DEEP_ARCHIVE in place, as a lifecycle rule would."""
    target = parse_s3_uri(item.source_uri)
    s3_client().copy_object(
        Bucket=target.bucket,
        Key=target.key,
        CopySource={"Bucket": target.bucket, "Key": target.key},
        StorageClass="DEEP_ARCHIVE",
        MetadataDirective="COPY",
    )


def test_archived_object_without_defrost_answers_403_naming_it(fresh_demo, share, drs):
    link = share()
    item = files_of(link)[0]
    archive(item)
    response = drs(f"objects/{link.job_id}.{item.position}/access/https", link.token)
    assert response.status_code == 403
    assert item.relative_path in response.json()["msg"]
    assert "restore" in response.json()["msg"]


def test_archived_object_with_defrost_answers_202_then_the_url(fresh_demo, share, drs):
    link = share(defrostArchivedFastqs=True, **ONE_LIBRARY)
    item = files_of(link)[0]
    archive(item)
    path = f"objects/{link.job_id}.{item.position}/access/https"
    first = drs(path, link.token)
    assert first.status_code == 202
    assert int(first.headers["Retry-After"]) > 0
    # The embedded S3 server finishes a restore at once: the next ask gets the bytes.
    again = drs(path, link.token)
    assert again.status_code == 200, again.text
    assert requests.get(again.json()["url"], timeout=30).content == get_object_bytes(
        item.source_uri
    )


def test_a_file_the_custodian_deleted_answers_404(fresh_demo, share, drs):
    link = share()
    item = files_of(link)[0]
    target = parse_s3_uri(item.source_uri)
    s3_client().delete_object(Bucket=target.bucket, Key=target.key)
    response = drs(f"objects/{link.job_id}.{item.position}/access/https", link.token)
    assert response.status_code == 404
    assert "no longer holds" in response.json()["msg"]
    assert drs(f"objects/{link.job_id}.1/access/https", link.token).status_code == 200


# --- the access log, and what never reaches a log ---------------------------------------------


def test_every_drs_request_is_in_the_access_log_via_drs(demo, share, drs):
    link = share()
    item = files_of(link)[0]
    drs(f"objects/{link.job_id}.{item.position}", link.token)
    drs(f"objects/{link.job_id}.{item.position}/access/https", link.token)
    drs(f"objects/{link.job_id}.{item.position}")  # no token: 401
    drs("objects/not-an-id", link.token)  # 400
    rows = list(ShareAccess.objects.filter(via=Via.DRS).order_by("at", "id"))
    assert [(row.resource, row.status, row.allowed) for row in rows] == [
        (f"drs/objects/{link.job_id}.{item.position}", 200, True),
        (f"drs/objects/{link.job_id}.{item.position}/access/https", 200, True),
        (f"drs/objects/{link.job_id}.{item.position}", 401, False),
        ("drs/objects/not-an-id", 400, False),
    ]
    assert [row.share_id for row in rows] == [link.pk, link.pk, None, link.pk]
    assert rows[1].job_object_id == item.pk
    assert rows[1].bytes == item.size
    assert rows[0].bytes is None  # metadata only


def test_revoked_share_refusals_are_logged_via_drs(demo, share, drs, operator):
    link = share()
    revoke(link, operator, "ended")
    drs(f"objects/{link.job_id}", link.token)
    row = ShareAccess.objects.get(share=link)
    assert (row.via, row.status, row.allowed) == (Via.DRS, 403, False)


def test_drs_is_throttled_per_link(demo, share, drs, settings):
    link = share()
    settings.SHARE_LINK_RATE = "2/minute"
    statuses = [drs(f"objects/{link.job_id}", link.token).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    throttled = drs(f"objects/{link.job_id}", link.token)
    assert throttled.json()["status_code"] == 429
    assert "Retry-After" in throttled.headers
    assert ShareAccess.objects.filter(share=link, via=Via.DRS, status=429).count() == 2


def test_bearer_token_never_reaches_a_log(demo, share, drs, caplog):
    link = share()
    caplog.set_level(logging.DEBUG)
    drs(f"objects/{link.job_id}", link.token)
    drs(f"objects/{link.job_id}.0/access/https", link.token)
    drs("objects/not-an-id", link.token)
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert logged  # the requests were logged
    assert link.token not in logged
    assert link.token not in redact(f"Authorization: Bearer {link.token}")
