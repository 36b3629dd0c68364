"""Share links: a pull served through the service until it expires or is revoked. The script
runs with bash and curl against the service on loopback (a live server) and the real S3 server
behind it; every download is checked byte for byte and in the access log."""

from __future__ import annotations

import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from audit.models import AuditAction, AuditEvent
from jobs.models import JobObject
from sharelinks.models import Receipt, ShareAccess, ShareLink
from sharelinks.services import revoke
from sharing_project.s3.objects import get_object_bytes

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.e2e]

# The `link_pull` fixture (tests/conftest.py) launches a pull with a share link.


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
