"""Share links: a pull served through the service until it expires or is revoked. The script
runs with bash and curl against the service on loopback (a live server) and the real S3 server
behind it; every download is checked byte for byte and in the access log."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

import pytest
import requests
from django.conf import settings
from django.core.cache import cache
from django.test import Client
from django.utils import timezone
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from audit.models import AuditAction, AuditEvent
from jobs.models import JobLogLine, JobObject
from sharelinks.models import Receipt, ShareAccess, ShareLink
from sharelinks.services import revoke
from sharelinks.tokens import find_link
from sharelinks.views import UNKNOWN, ShareLinkThrottle
from sharing_project.s3.objects import delete_object, get_object_bytes, put_object
from tests.support.cluster import ROOT, database_url
from tests.support.fault_proxy import FaultProxy

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e]

# The `link_pull` fixture (tests/conftest.py) launches a pull with a share link.
ONE_LIBRARY = {"libraryIdList": ["L2400003"], "dataTypeList": ["Fastq", "SecondaryAnalysis"]}


def run(script: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", str(script), *args], capture_output=True, text=True, timeout=timeout
    )


def shared(job_id: str) -> dict[str, bytes]:
    return {
        o.relative_path: get_object_bytes(o.source_uri)
        for o in JobObject.objects.filter(job_id=job_id)
    }


def test_script_downloads_every_file_through_the_link_byte_for_byte(link_pull, tmp_path):
    job, script = link_pull()
    link = ShareLink.objects.get(job_id=job["id"])
    assert job["outputs"]["dataDownloadScript"]["url"] == f"{link.url}/data-download.sh"
    assert "X-Amz-" not in script.read_text()
    target = tmp_path / "share"
    target.mkdir()
    result = run(script, "--data-download-path", str(target))
    assert result.returncode == 0, result.stderr
    expected = shared(job["id"])
    for path, data in expected.items():
        assert (target / path).read_bytes() == data
    fetched = ShareAccess.objects.filter(share=link, job_object__isnull=False, allowed=True)
    assert fetched.count() == len(expected)
    assert "Receipt sent" in result.stderr
    receipt = Receipt.objects.get(share=link)
    assert (receipt.files_total, receipt.files_ok) == (len(expected), len(expected))
    assert AuditEvent.objects.filter(action=AuditAction.RECEIPT_RECEIVED, job_id=job["id"]).exists()


def test_revoked_link_refuses_and_the_script_says_why(link_pull, tmp_path, operator):
    job, script = link_pull()
    link = ShareLink.objects.get(job_id=job["id"])
    revoke(link, operator, "sent to the wrong collaborator")
    target = tmp_path / "share"
    target.mkdir()
    result = run(script, "--data-download-path", str(target))
    assert result.returncode == 5, result.stderr
    assert "revoked by the data custodian" in result.stderr
    assert list(target.iterdir()) == []


def test_expired_link_answers_410(link_pull, tmp_path):
    job, script = link_pull()
    ShareLink.objects.filter(job_id=job["id"]).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    target = tmp_path / "share"
    target.mkdir()
    result = run(script, "--data-download-path", str(target))
    assert result.returncode == 3, result.stderr


def end_link(link: ShareLink, ending: str, operator) -> str:
    """Revoke the link or make it expire now; the message it then answers with."""
    if ending == "revoke":
        return revoke(link, operator, "sent to the wrong collaborator").revoked_message()
    ShareLink.objects.filter(pk=link.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    return ShareLink.objects.get(pk=link.pk).expired_message()


def files_under(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` (staging folders included), but the checksum lists."""
    found = {
        str(path.relative_to(folder)): path.read_bytes()
        for path in folder.rglob("*")
        if path.is_file()
    }
    return {name: data for name, data in found.items() if not name.startswith("checksums.")}


def requests_per_file(link: ShareLink) -> Counter:
    return Counter(
        ShareAccess.objects.filter(share=link, resource__startswith="files/").values_list(
            "resource", flat=True
        )
    )


ENDINGS = [
    pytest.param("revoke", 403, 5, id="revoked"),
    pytest.param("expire", 410, 3, id="expired"),
]


@pytest.mark.parametrize(("ending", "status", "exit_code"), ENDINGS)
def test_a_link_ended_mid_download_stops_the_script_keeping_only_verified_files(
    ending, status, exit_code, link_pull, live_server, operator, tmp_path
):
    """The link ends while the script waits for file 2 (held by a proxy in front of the
    service): files 0 and 1 are kept whole, the others fail with the custodian's message, once
    each, and nothing partial is left."""
    with FaultProxy(live_server.url, hold_path_ending="/files/2") as gate:
        job, script = link_pull(base_url=gate.endpoint)
        link = ShareLink.objects.get(job_id=job["id"])
        objects = list(JobObject.objects.filter(job_id=job["id"]).order_by("position"))
        assert len(objects) >= 4
        target = tmp_path / "share"
        target.mkdir()
        download = subprocess.Popen(
            ["bash", str(script), "--data-download-path", str(target), "--parallel", "1"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert gate.held.wait(60), "the script never asked for file 2"
            message = end_link(link, ending, operator)
        finally:
            gate.release.set()
            _, stderr = download.communicate(timeout=60)
    assert download.returncode == exit_code, stderr
    assert f"error: {message}" in stderr
    if ending == "revoke":
        link.refresh_from_db()
        assert f"revoked by the data custodian on {link.revoked_at:%Y-%m-%d}" in message
        assert f"contact {settings.DATA_CUSTODIAN_CONTACT}." in message
    fetched, refused = objects[:2], objects[2:]
    originals = shared(job["id"])
    assert files_under(target) == {o.relative_path: originals[o.relative_path] for o in fetched}
    for item in refused:
        assert f"  {item.relative_path}: not downloaded: {message}" in stderr
    # Each file was asked for once: a refused one is not retried.
    assert requests_per_file(link) == Counter(f"files/{o.position}" for o in objects)
    answers = ShareAccess.objects.filter(share=link, resource__startswith="files/")
    assert {(a.resource, a.allowed, a.status) for a in answers} == {
        *((f"files/{o.position}", True, 302) for o in fetched),
        *((f"files/{o.position}", False, status) for o in refused),
    }
    assert not Receipt.objects.filter(share=link).exists()


@pytest.mark.parametrize(("ending", "status", "exit_code"), ENDINGS)
def test_an_ended_link_refuses_every_endpoint_and_the_script_downloads_nothing(
    ending, status, exit_code, link_pull, operator, client, tmp_path
):
    job, script = link_pull()
    link = ShareLink.objects.get(job_id=job["id"])
    token = link.token
    message = end_link(link, ending, operator)
    for method, resource in (
        ("get", ""),
        ("get", "data-download.sh"),
        ("get", "files/0"),
        ("get", "lims.csv"),
        ("get", "checksums.sha256"),
        ("post", "receipt"),
    ):
        response = getattr(client, method)(f"/s/{token}/{resource}")
        assert (response.status_code, response.content.decode()) == (status, f"{message}\n"), (
            resource
        )
    refused = ShareAccess.objects.filter(share=link, allowed=False, status=status)
    assert refused.count() == 6
    target = tmp_path / "share"
    target.mkdir()
    result = run(script, "--data-download-path", str(target))
    assert result.returncode == exit_code, result.stderr
    assert f"error: {message} Nothing was downloaded." in result.stderr
    assert list(target.iterdir()) == []


def test_a_malformed_receipt_is_refused_naming_the_field(link_pull, client):
    job, _ = link_pull()
    link = ShareLink.objects.get(job_id=job["id"])
    good = {
        "files_total": 3,
        "files_ok": 2,
        "files_verified": 2,
        "files_failed": 1,
        "files_skipped": 0,
        "bytes": 10,
    }
    for changed, field in (
        ({"files_ok": -1}, "files_ok"),
        ({"bytes": -5}, "bytes"),
        ({"files_verified": 3, "files_total": 4}, "files_verified"),
        ({"files_ok": 3}, "files_total"),
        ({"bytes": None}, "bytes"),
        ({"bytes": 2**63}, "bytes"),  # past the database's columns
        ({"files_total": 2**31}, "files_total"),
    ):
        body = {key: value for key, value in (good | changed).items() if value is not None}
        response = client.post(f"/s/{link.token}/receipt", body, content_type="application/json")
        assert response.status_code == 400, (changed, response.content)
        assert field in response.json(), response.json()
    assert not Receipt.objects.exists()
    assert ShareAccess.objects.filter(share=link, resource="receipt", status=400).count() == 7
    response = client.post(f"/s/{link.token}/receipt", good, content_type="application/json")
    assert response.status_code == 201, response.content  # the same receipt, well formed
    assert Receipt.objects.get().files_failed == 1


def test_no_receipt_option_sends_none(link_pull, tmp_path):
    job, script = link_pull()
    link = ShareLink.objects.get(job_id=job["id"])
    target = tmp_path / "share"
    target.mkdir()
    result = run(script, "--data-download-path", str(target), "--no-receipt")
    assert result.returncode == 0, result.stderr
    assert "Receipt" not in result.stderr
    assert not Receipt.objects.exists()
    assert not ShareAccess.objects.filter(resource="receipt").exists()
    assert ShareAccess.objects.filter(share=link, resource__startswith="files/").exists()


def test_a_corrupted_object_fails_its_checksum_and_the_receipt_says_so(s3, link_pull, tmp_path):
    """(`s3` first: the test changes a demo object, so the demo is written afresh for it and
    after it.)"""
    job, script = link_pull()
    link = ShareLink.objects.get(job_id=job["id"])
    victim = JobObject.objects.filter(job_id=job["id"], md5__gt="").order_by("position")[1]
    expected = {p: d for p, d in shared(job["id"]).items() if p != victim.relative_path}
    original = get_object_bytes(victim.source_uri)
    put_object(victim.source_uri, bytes([original[0] ^ 1]) + original[1:])  # same size
    target = tmp_path / "share"
    target.mkdir()
    result = run(script, "--data-download-path", str(target))
    assert result.returncode == 1, result.stderr
    assert f"  {victim.relative_path}: MD5 differs: expected {victim.md5}" in result.stderr
    total = JobObject.objects.filter(job_id=job["id"]).count()
    assert files_under(target) == expected
    receipt = Receipt.objects.get(share=link)
    assert (receipt.files_total, receipt.files_ok, receipt.files_failed) == (total, total - 1, 1)
    assert receipt.bytes == sum(len(data) for data in expected.values())


def test_objects_gone_or_archived_since_the_share_are_named_and_the_rest_downloaded(
    s3, link_pull, client, tmp_path
):
    """(`s3` first: the test deletes and archives demo objects.)"""
    job, script = link_pull()
    link = ShareLink.objects.get(job_id=job["id"])
    objects = list(JobObject.objects.filter(job_id=job["id"]).order_by("position"))
    gone, archived = objects[0], objects[2]
    expected = shared(job["id"])
    del expected[gone.relative_path], expected[archived.relative_path]
    delete_object(gone.source_uri)
    put_object(archived.source_uri, get_object_bytes(archived.source_uri), storage_class="GLACIER")
    answers = {
        item.position: client.get(f"/s/{link.token}/files/{item.position}")
        for item in (gone, archived)
    }
    assert answers[gone.position].status_code == 404
    assert answers[gone.position].content.decode() == (
        f"{gone.relative_path}: the data custodian no longer holds this file.\n"
    )
    assert answers[archived.position].status_code == 409
    assert (
        answers[archived.position]
        .content.decode()
        .startswith(f"{archived.relative_path}: archived since the share was made")
    )
    target = tmp_path / "share"
    target.mkdir()
    result = run(script, "--data-download-path", str(target))
    assert result.returncode == 1, result.stderr
    assert f"  {gone.relative_path}: HTTP 404: the object is no longer there" in result.stderr
    assert f"  {archived.relative_path}: HTTP 409: archived since the share was made" in (
        result.stderr
    )
    assert files_under(target) == expected
    # Asked once by the test, once by the script: neither is retried.
    counts = requests_per_file(link)
    assert (counts[f"files/{gone.position}"], counts[f"files/{archived.position}"]) == (2, 2)
    assert Receipt.objects.get(share=link).files_failed == 2


def test_the_stored_copy_of_the_script_names_no_token_and_refuses_to_run(link_pull, tmp_path):
    job, script = link_pull()
    link = ShareLink.objects.get(job_id=job["id"])
    uri = f"s3://{settings.SHARING_BUCKET}/pull/{job['id']}/data-download.sh"
    stored = get_object_bytes(uri).decode()
    assert link.token not in stored
    assert 'readonly SHARE_URL="@@SHARE_URL@@"' in stored
    assert f'readonly SHARE_URL="{link.url}"' in script.read_text()  # the served copy names it
    copy = tmp_path / "stored-copy.sh"
    copy.write_text(stored)
    target = tmp_path / "share"
    target.mkdir()
    result = run(copy, "--data-download-path", str(target))
    assert result.returncode == 2
    assert result.stderr == (
        "error: this copy of the script names no share link: download the script from the "
        "link you were given\n"
    )
    assert list(target.iterdir()) == []
    assert not ShareAccess.objects.filter(resource__startswith="files/").exists()


def test_the_served_share_link_script_passes_shellcheck(link_pull):
    _, script = link_pull()
    result = subprocess.run(["shellcheck", str(script)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def test_without_public_base_url_a_pull_hands_out_presigned_links_and_no_share_link(
    pull, settings, tmp_path
):
    settings.PUBLIC_BASE_URL = None
    job, script, _ = pull(**ONE_LIBRARY)
    assert not ShareLink.objects.exists()
    assert all("X-Amz-Signature=" in output["url"] for output in job["outputs"].values())
    text = script.read_text()
    assert 'readonly SHARE_URL=""' in text
    assert "X-Amz-Signature=" in text
    target = tmp_path / "share"
    target.mkdir()
    result = run(script, "--data-download-path", str(target))
    assert result.returncode == 0, result.stderr
    assert files_under(target) == shared(job["id"])
    assert "Receipt" not in result.stderr
    assert not ShareAccess.objects.exists()


# --- rate limit --------------------------------------------------------------------------------


@pytest.fixture
def fresh_counts():
    """The throttle's counts (in this process's cache) start empty and are forgotten after."""
    cache.clear()
    yield
    cache.clear()


def test_requests_over_the_rate_get_429_with_retry_after_and_are_logged(
    link_pull, client, settings, fresh_counts
):
    job, _ = link_pull()
    link = ShareLink.objects.get(job_id=job["id"])
    settings.SHARE_LINK_RATE = "3/day"
    cache.clear()  # what fetching the script counted
    assert [client.get(f"/s/{link.token}/").status_code for _ in range(3)] == [200, 200, 200]
    throttled = client.get(f"/s/{link.token}/files/0")
    assert throttled.status_code == 429
    assert int(throttled.headers["Retry-After"]) > 0
    [logged] = ShareAccess.objects.filter(share=link, status=429)
    assert (logged.resource, logged.allowed, logged.job_object) == ("files/0", False, None)


def test_a_token_that_matches_no_share_is_throttled_per_client_address(
    link_pull, settings, fresh_counts
):
    """Regression: the address was DRF's, which believes any X-Forwarded-For a client sends,
    so that a guesser sending a new one each time was never throttled."""
    job, _ = link_pull()
    link = ShareLink.objects.get(job_id=job["id"])
    settings.SHARE_LINK_RATE = "3/day"
    cache.clear()
    guesser, other = Client(REMOTE_ADDR="192.0.2.1"), Client(REMOTE_ADDR="192.0.2.2")
    guesses = [
        guesser.get(f"/s/{secrets.token_urlsafe(32)}/", HTTP_X_FORWARDED_FOR=f"198.51.100.{n}")
        for n in range(4)
    ]
    assert [answer.status_code for answer in guesses] == [404, 404, 404, 429]
    assert other.get(f"/s/{secrets.token_urlsafe(32)}/").status_code == 404
    assert guesser.get(f"/s/{link.token}/").status_code == 200  # a share counts on its own
    [logged] = ShareAccess.objects.filter(status=429)
    assert (logged.share, logged.client_address, logged.allowed) == (None, "192.0.2.1", False)


class SteppingClock:
    """The throttle's clock in a test: 0.3 s later at each request, however long the machine
    takes. With 3/second the fourth request of every four is refused (Retry-After: 1), always
    the same ones, however loaded the machine."""

    def __init__(self) -> None:
        self._calls = 0
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            self._calls += 1
            return 1_000_000 + 0.3 * self._calls


class Counts(dict):
    """The throttle's counts without the cache's expiry, which runs on the real clock."""

    def set(self, key, value, timeout=None) -> None:
        self[key] = value


def test_the_script_waits_out_429s_and_completes_byte_for_byte(
    link_pull, client, monkeypatch, settings, tmp_path
):
    """curl honours Retry-After (--retry); the receipt, the last request, is sent again after
    its 429 too (the test lines it up on a refused one)."""
    job, script = link_pull()
    link = ShareLink.objects.get(job_id=job["id"])
    settings.SHARE_LINK_RATE = "3/second"
    monkeypatch.setattr(ShareLinkThrottle, "timer", SteppingClock())
    monkeypatch.setattr(ShareLinkThrottle, "cache", Counts())
    # The script asks for the link's state, then each file, then sends its receipt: requests
    # 4, 8, 12... are refused, so the receipt is when the allowed requests before it are a
    # multiple of three.
    files = JobObject.objects.filter(job_id=job["id"]).count()
    for _ in range(-(1 + files) % 3):
        assert client.get(f"/s/{link.token}/").status_code == 200
    target = tmp_path / "share"
    target.mkdir()
    result = run(script, "--data-download-path", str(target), "--parallel", "2")
    assert result.returncode == 0, result.stderr
    assert files_under(target) == shared(job["id"])
    asked = ShareAccess.objects.filter(share=link).exclude(resource="data-download.sh")
    throttled = asked.filter(status=429, allowed=False)
    assert throttled.count() == asked.count() // 4 > 0
    assert throttled.filter(resource="receipt").exists()
    assert Receipt.objects.get(share=link).files_ok == files


def test_a_throttled_state_check_is_asked_again_not_taken_for_a_live_link(
    link_pull, client, operator, monkeypatch, settings, tmp_path
):
    """Regression: the script asked the link's state once, and took a 429 for a link still
    serving: it went on to ask for every file of a revoked share."""
    job, script = link_pull()
    link = ShareLink.objects.get(job_id=job["id"])
    message = revoke(link, operator, "sent to the wrong collaborator").revoked_message()
    settings.SHARE_LINK_RATE = "3/second"
    monkeypatch.setattr(ShareLinkThrottle, "timer", SteppingClock())
    monkeypatch.setattr(ShareLinkThrottle, "cache", Counts())
    for _ in range(3):  # the script's first request is the fourth: refused
        assert client.get(f"/s/{link.token}/").status_code == 403
    target = tmp_path / "share"
    target.mkdir()
    result = run(script, "--data-download-path", str(target))
    assert result.returncode == 5, result.stderr
    assert result.stderr.endswith(f"error: {message} Nothing was downloaded.\n")
    states = ShareAccess.objects.filter(share=link, resource="state")
    assert list(states.values_list("status", flat=True)) == [403, 403, 403, 429, 403]
    assert not ShareAccess.objects.filter(share=link, resource__startswith="files/").exists()


# --- tokens ------------------------------------------------------------------------------------


def test_unknown_malformed_and_guessed_tokens_all_get_the_same_404(link_pull, client, fresh_counts):
    job, _ = link_pull()
    good = ShareLink.objects.get(job_id=job["id"]).token
    presented = {
        "unknown": secrets.token_urlsafe(32),
        "too long": good + "A" * 5000,
        "non-ASCII": "é" * 43,
        "a space": " ",
        "a NUL": "\x00",
        "a percent sign": "%",
        "guessed": good[:-1] + ("B" if good[-1] == "A" else "A"),
    }
    for name, token in presented.items():
        for resource in ("", "files/0", "data-download.sh", "lims.csv"):
            response = client.get(f"/s/{quote(token, safe='')}/{resource}")
            assert (response.status_code, response.content.decode()) == (404, f"{UNKNOWN}\n"), (
                name,
                resource,
            )
    assert client.get(f"/s/{good}/files/0").status_code == 302
    unknown = ShareAccess.objects.filter(share=None, status=404, allowed=False)
    assert unknown.count() == len(presented) * 4


def test_finding_a_link_costs_the_same_queries_for_any_token(link_pull, django_assert_num_queries):
    job, _ = link_pull()
    good = ShareLink.objects.get(job_id=job["id"]).token
    for token in (good, good[:-1] + "-", secrets.token_urlsafe(32), "", "é" * 500):
        with django_assert_num_queries(1):
            found = find_link(token)
        assert (found is not None) == (token == good)


@hypothesis_settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(presented=st.text(max_size=250))
def test_any_text_as_a_token_is_answered_without_a_server_error(presented, client):
    cache.clear()  # the throttle's counts for this address
    for method, resource in (("get", ""), ("get", "files/1"), ("post", "receipt")):
        response = getattr(client, method)(f"/s/{quote(presented, safe='')}/{resource}")
        assert response.status_code < 500
        if presented and "/" not in presented and presented not in (".", ".."):
            assert response.content.decode() == f"{UNKNOWN}\n"


# --- no token in any log -----------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def gunicorn(tmp_path: Path, s3_endpoint: str, log_format: str, **env: str):
    """The service under gunicorn (as `make run` and production start it) on the test
    database, with its access log on; yields its address and the files its stdout and
    stderr go to."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("DSM_", "DJANGO_"))}
    environment |= {
        "DJANGO_SETTINGS_MODULE": "sharing_project.settings",
        "SECRET_KEY": settings.SECRET_KEY,
        "DATABASE_URL": database_url(),
        "AWS_ENDPOINT_URL": s3_endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": settings.AWS_REGION,
        "SHARING_BUCKET": settings.SHARING_BUCKET,
        "DSM_DATA_DIR": str(tmp_path),
        "DSM_ENV_FILE": os.devnull,
        "WEB_BIND": f"127.0.0.1:{port}",
        "WEB_WORKERS": "1",  # one process: one throttle count
        "LOG_FORMAT": log_format,
        "GUNICORN_CMD_ARGS": "--access-logfile - --no-control-socket",
        "PUBLIC_BASE_URL": base,
        **env,
    }
    out, err = tmp_path / "gunicorn.out", tmp_path / "gunicorn.err"
    web = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "python:sharing_project.gunicorn_conf"],
        cwd=ROOT,
        env=environment,
        stdout=out.open("wb"),
        stderr=err.open("wb"),
        start_new_session=True,
    )
    try:
        for _ in range(300):
            assert web.poll() is None, f"gunicorn exited:\n{err.read_text()[-3000:]}"
            with contextlib.suppress(requests.ConnectionError):
                if requests.get(f"{base}/healthz", timeout=5).status_code == 200:
                    break
            time.sleep(0.2)
        else:
            pytest.fail(f"gunicorn did not answer /healthz:\n{err.read_text()[-3000:]}")
        yield base, out, err
    finally:
        web.terminate()
        try:
            web.wait(timeout=30)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(web.pid, 9)


def until_throttled(url: str, most: int = 100) -> list[int]:
    """GET `url` until it answers 429; the statuses."""
    statuses: list[int] = []
    while not statuses or statuses[-1] != 429:
        assert len(statuses) < most, statuses[-5:]
        statuses.append(requests.get(url, timeout=10).status_code)
    return statuses


@pytest.mark.parametrize("log_format", ["plain", "json"])
def test_a_share_links_token_is_in_no_log(log_format, link_pull, s3_endpoint, operator, tmp_path):
    """Regression: gunicorn's access log wrote each request line as it came, token included:
    only the service's own lines went through the redaction."""
    with gunicorn(tmp_path, s3_endpoint, log_format, SHARE_LINK_RATE="40/hour") as served:
        base, out, err = served
        job, script = link_pull(base_url=base)
        link = ShareLink.objects.get(job_id=job["id"])
        token = link.token
        target = tmp_path / "share"
        target.mkdir()
        download = run(script, "--data-download-path", str(target))
        assert download.returncode == 0, download.stderr
        assert until_throttled(f"{base}/s/{secrets.token_urlsafe(32)}/")[0] == 404
        revoke(link, operator, "sent to the wrong collaborator")
        assert until_throttled(f"{base}/s/{token}/files/0")[0] == 403
    logs = {
        "gunicorn stdout": out.read_text(),
        "gunicorn stderr": err.read_text(),
        "the script's output": download.stdout + download.stderr,
        "the job's log": "\n".join(
            JobLogLine.objects.filter(job_id=job["id"]).values_list("message", flat=True)
        ),
        "the audit trail": json.dumps(list(AuditEvent.objects.values()), default=str),
    }
    for name, text in logs.items():
        assert token not in text, name
    access = [line for line in logs["gunicorn stdout"].splitlines() if "HTTP/1.1" in line]
    if log_format == "json":
        access = [json.loads(line)["message"] for line in access]
    for status in (200, 302, 403, 404, 429):
        assert any(f'HTTP/1.1" {status} ' in line for line in access), (status, access[-5:])
    assert any('"GET /s/[redacted]/files/0 HTTP/1.1" 302 ' in line for line in access)
