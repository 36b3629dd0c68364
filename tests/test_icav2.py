"""The ICAv2 client against an ICAv2-compatible server on loopback (tests/support/icav2_server.py), and
the streamed copy into the folder with the temporary credentials it hands out, on the loopback
S3 server."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import socket
import subprocess
import sys
import time
import uuid
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from sharing_project import icav2
from sharing_project.errors import Icav2Error, ShareError
from sharing_project.s3.checksums import Digests, FullObjectChecksum
from sharing_project.s3.client import client_for_credentials
from sharing_project.s3.objects import ensure_bucket
from sharing_project.s3.stream import stream_copy, stream_transfer_config
from tests.support.icav2_server import MEDIA_TYPE, Icav2Server

ROOT = Path(__file__).resolve().parent.parent
MIB = 1024 * 1024
SOURCE_BUCKET = "dsm-demo-data"


@pytest.fixture
def icav2_server(s3, settings) -> Iterator[Icav2Server]:
    """An empty ICAv2 server; the service's settings point at it with its API key."""
    server = Icav2Server(settings.AWS_ENDPOINT_URL, region=settings.AWS_REGION).start()
    settings.ICAV2_BASE_URL = server.base_url
    settings.ICAV2_API_KEY = server.api_key
    icav2.close_clients()
    yield server
    icav2.close_clients()
    server.stop()


@pytest.fixture
def cup(icav2_server: Icav2Server) -> str:
    """The collaborator's project "cup-share" (its id), next to one with a longer name."""
    icav2_server.add_project("cup-share-archive")
    return icav2_server.add_project("cup-share")


def source_object(s3, key: str, content: bytes) -> str:
    ensure_bucket(SOURCE_BUCKET)
    s3.put_object(Bucket=SOURCE_BUCKET, Key=key, Body=content)
    return f"s3://{SOURCE_BUCKET}/{key}"


def destination_client(credentials: icav2.Icav2Credentials):
    return client_for_credentials(
        credentials.access_key,
        credentials.secret_key,
        credentials.session_token,
        credentials.region,
    )


def crc32_of(content: bytes) -> str:
    return base64.b64encode(zlib.crc32(content).to_bytes(4, "big")).decode()


def digests_of(content: bytes) -> Digests:
    return Digests(
        hashlib.md5(content).hexdigest(),
        hashlib.sha256(content).hexdigest(),
        crc32_of(content),
        len(content),
    )


def multipart_etag(content: bytes, part_size: int) -> str:
    parts = [content[i : i + part_size] for i in range(0, len(content), part_size)]
    digest = hashlib.md5(b"".join(hashlib.md5(part).digest() for part in parts)).hexdigest()
    return f"{digest}-{len(parts)}"


# --- projects ----------------------------------------------------------------------------------
def test_project_name_is_resolved_to_its_id_by_paging_the_project_list(icav2_server):
    for number in range(2345):
        icav2_server.add_project(f"filler-{number:04d}")
    icav2_server.add_project("cup-share", hidden=True)
    wanted = icav2_server.add_project("cup-share")

    assert icav2.resolve_project_id("cup-share") == wanted

    pages = icav2_server.calls("GET", "/api/projects")
    assert [page.query["pageOffset"] for page in pages] == [["0"], ["1000"], ["2000"]]
    assert all(page.query["pageSize"] == ["1000"] for page in pages)
    assert all(page.query["includeHiddenProjects"] == ["false"] for page in pages)
    assert all(page.status == 200 for page in pages)


def test_project_id_is_used_as_is_without_asking_icav2(icav2_server):
    project_id = str(uuid.uuid4())

    assert icav2.resolve_project_id(project_id) == project_id
    assert icav2_server.received == []


def test_unknown_project_is_an_icav2_error_naming_it(icav2_server, cup):
    with pytest.raises(Icav2Error, match="'cup-shar'") as raised:
        icav2.resolve_project_id("cup-shar")

    assert isinstance(raised.value, ShareError)
    assert raised.value.error_type == "Icav2Error"
    assert raised.value.details == {"project": "cup-shar"}


def test_project_name_held_by_two_projects_asks_for_the_id(icav2_server):
    first = icav2_server.add_project("twins")
    second = icav2_server.add_project("twins")

    with pytest.raises(Icav2Error, match="give the project id") as raised:
        icav2.resolve_project_id("twins")

    assert first in str(raised.value)
    assert second in str(raised.value)


# --- folders -----------------------------------------------------------------------------------
def test_folder_and_its_missing_parents_are_created_once_then_found(icav2_server, cup):
    created = icav2.ensure_folder("cup-share", "/shared/cup/")

    assert created.project_id == cup
    assert created.path == "/shared/cup/"
    assert created.id.startswith("fol.")
    assert icav2_server.folder_paths(cup) == ["/shared/", "/shared/cup/"]
    (creation,) = icav2_server.calls("POST", ":createFolder")
    assert creation.body == {"name": "cup", "folderPath": "/shared/"}
    assert creation.status == 201
    assert creation.header("Content-Type") == MEDIA_TYPE
    assert len(creation.header("Idempotency-Key")) <= 255

    found = icav2.ensure_folder("cup-share", "shared/cup")

    assert found == created
    assert len(icav2_server.calls("POST", ":createFolder")) == 1
    assert icav2_server.folder_paths(cup) == ["/shared/", "/shared/cup/"]
    lookup = icav2_server.calls("GET", f"/api/projects/{cup}/data")[-1]
    assert lookup.query["parentFolderPath"] == ["/shared/"]
    assert lookup.query["filename"] == ["cup"]
    assert lookup.query["filenameMatchMode"] == ["EXACT"]
    assert lookup.query["type"] == ["FOLDER"]


def test_folder_found_only_by_its_exact_path(icav2_server, cup):
    """A folder of the same name elsewhere, or in another case, is not the destination."""
    icav2_server.add_folder(cup, "/other/")
    icav2_server.add_folder(cup, "/other/cup/")
    icav2_server.add_folder(cup, "/CUP/")

    assert icav2.find_folder("cup-share", "/cup/") is None
    folder = icav2.ensure_folder("cup-share", "/cup/")

    assert folder.path == "/cup/"
    assert icav2_server.folder_paths(cup) == ["/CUP/", "/cup/", "/other/", "/other/cup/"]


def test_folder_creation_whose_answer_was_lost_is_retried_with_the_same_idempotency_key(
    icav2_server, cup
):
    icav2_server.fail("POST", ":createFolder", 502, retry_after="0", after_handling=True)

    folder = icav2.ensure_folder("cup-share", "/shared/cup/")

    first, second = icav2_server.calls("POST", ":createFolder")
    assert (first.status, second.status) == (502, 201)
    assert first.header("Idempotency-Key") == second.header("Idempotency-Key")
    assert icav2_server.folder_paths(cup) == ["/shared/", "/shared/cup/"]
    assert icav2_server.folders[folder.id].path == "/shared/cup/"


def test_folder_made_by_someone_else_meanwhile_is_used(icav2_server, cup):
    """Between the lookup and the creation another worker made the folder: ICAv2 answers 409,
    and the folder it made is the destination."""
    made = []
    icav2_server.before_next(
        "POST", ":createFolder", lambda: made.append(icav2_server.add_folder(cup, "/shared/cup/"))
    )

    folder = icav2.ensure_folder("cup-share", "/shared/cup/")

    assert folder.id == made[0]
    assert [call.status for call in icav2_server.calls("POST", ":createFolder")] == [409]
    assert icav2_server.folder_paths(cup) == ["/shared/", "/shared/cup/"]


def test_project_root_is_not_a_folder_to_push_to(icav2_server, cup):
    with pytest.raises(Icav2Error, match=r"icav2://<project>/<folder>/"):
        icav2.folder_upload_credentials("cup-share", "/")


def test_dot_segments_are_refused():
    with pytest.raises(Icav2Error, match=r"'\.\.' segment"):
        icav2.normalise_folder_path("/shared/../etc/")


# --- credentials and the streamed copy -----------------------------------------------------------
def test_folder_credentials_name_the_folders_bucket_and_prefix(icav2_server, cup):
    asked_at = datetime.now(UTC)

    credentials = icav2.folder_upload_credentials("cup-share", "/shared/cup/")
    answered_at = datetime.now(UTC)

    folder = icav2.find_folder("cup-share", "/shared/cup/")
    (issued,) = icav2_server.issued
    assert issued["folderId"] == folder.id
    assert credentials.bucket == "icav2-project-data"
    assert credentials.key_prefix == f"{cup}/shared/cup/"
    assert credentials.s3_prefix == f"s3://icav2-project-data/{cup}/shared/cup/"
    assert credentials.key_for("fastq/a.fastq.gz") == f"{cup}/shared/cup/fastq/a.fastq.gz"
    assert credentials.access_key == issued["accessKey"]
    assert credentials.secret_key == issued["secretKey"]
    assert credentials.session_token == issued["sessionToken"]
    assert credentials.region == icav2_server.region
    assert credentials.upload_extra_args() == {"ServerSideEncryption": "AES256"}
    issued_at = credentials.expires_at - timedelta(hours=36)
    assert asked_at <= issued_at <= answered_at
    assert credentials.secret_key not in repr(credentials)
    assert credentials.session_token not in repr(credentials)
    (request,) = icav2_server.calls("POST", f"/data/{folder.id}:createTemporaryCredentials")
    assert request.body == {}
    assert request.header("Accept") == MEDIA_TYPE
    assert request.status == 200


def test_stream_copy_lands_byte_identical_in_the_icav2_folder(icav2_server, cup, s3):
    content = os.urandom(300_000)
    source = source_object(s3, "fastq/RUN1/L2400001_R1.fastq.gz", content)
    credentials = icav2.folder_upload_credentials("cup-share", "/shared/cup/")
    key = credentials.key_for("fastq/RUN1/Lane_1/L2400001/L2400001_R1.fastq.gz")

    copied = stream_copy(
        source,
        destination_client(credentials),
        credentials.bucket,
        key,
        len(content),
        extra_args=credentials.upload_extra_args(),
    )

    landed = s3.get_object(Bucket="icav2-project-data", Key=key, ChecksumMode="ENABLED")
    assert landed["Body"].read() == content
    assert copied.etag == hashlib.md5(content).hexdigest() == landed["ETag"].strip('"')
    assert copied.digests == digests_of(content)
    # The PUT carried a CRC32 of its bytes; the storage keeps it as the object's checksum.
    assert landed["ChecksumCRC32"] == crc32_of(content)
    assert copied.checksum == FullObjectChecksum("CRC32", crc32_of(content))
    assert landed["ServerSideEncryption"] == "AES256"
    assert key == f"{cup}/shared/cup/fastq/RUN1/Lane_1/L2400001/L2400001_R1.fastq.gz"


@pytest.mark.e2e  # uploads 12 MiB in parts: a second
def test_stream_copy_above_the_threshold_uploads_in_parts(icav2_server, cup, s3):
    content = os.urandom(11 * MIB + 12_345)
    source = source_object(s3, "analysis/run/tumor.bam", content)
    credentials = icav2.folder_upload_credentials("cup-share", "/shared/cup/")
    key = credentials.key_for("secondary-analysis/tumor-normal/run/tumor.bam")
    destination = destination_client(credentials)
    sent = []
    destination.meta.events.register(
        "before-send.s3", lambda request, event_name, **kwargs: sent.append((event_name, request))
    )

    copied = stream_copy(
        source,
        destination,
        credentials.bucket,
        key,
        len(content),
        multipart_threshold=5 * MIB,
        part_size=5 * MIB,
        extra_args=credentials.upload_extra_args(),
    )

    assert copied.etag == multipart_etag(content, 5 * MIB)
    assert copied.etag.endswith("-3")
    assert copied.digests == digests_of(content)
    # S3 combines the parts' CRC32s into the whole object's (moto computes it from the
    # bytes it stored): the same as the CRC32 of the bytes read.
    assert copied.checksum == FullObjectChecksum("CRC32", crc32_of(content))
    landed = destination.get_object(Bucket=credentials.bucket, Key=key)
    assert landed["Body"].read() == content
    headers = {name.rsplit(".", 1)[-1]: request.headers for name, request in sent}
    assert headers["CreateMultipartUpload"]["x-amz-checksum-type"] == b"FULL_OBJECT"
    parts = [request for name, request in sent if name.endswith("UploadPart")]
    assert len(parts) == 3
    assert all("x-amz-checksum-crc32" in part.headers for part in parts)  # S3 checks each


@pytest.mark.e2e  # uploads 12 MiB in parts: a second
def test_a_part_changed_on_its_way_to_the_storage_shows_in_the_copys_checksum(
    icav2_server, cup, s3
):
    """moto keeps a part whose bytes do not match its CRC32 (S3 would refuse it); the
    full-object CRC32 it reports then differs from the CRC32 of the bytes read."""
    content = os.urandom(11 * MIB)
    source = source_object(s3, "analysis/run/normal.bam", content)
    credentials = icav2.folder_upload_credentials("cup-share", "/shared/cup/")
    destination = destination_client(credentials)
    changed = []

    def flip_a_byte_of_part_two(request, **kwargs):
        if "partNumber=2" in request.url and not changed:
            body = request.body.read()
            request.body = bytes([body[0] ^ 1]) + body[1:]
            changed.append(request.url)

    destination.meta.events.register("before-send.s3.UploadPart", flip_a_byte_of_part_two)

    copied = stream_copy(
        source,
        destination,
        credentials.bucket,
        credentials.key_for("normal.bam"),
        len(content),
        multipart_threshold=5 * MIB,
        part_size=5 * MIB,
    )

    assert changed
    landed = s3.get_object(Bucket=credentials.bucket, Key=credentials.key_for("normal.bam"))
    assert landed["Body"].read() != content
    assert copied.digests == digests_of(content)
    assert copied.checksum is not None
    assert copied.checksum.algorithm == "CRC32"
    assert copied.checksum.value != copied.digests.crc32


def test_stream_copy_parts_stay_within_s3s_part_limit_and_memory_bound():
    size = 200 * 1024**3

    config = stream_transfer_config(size)

    assert config.multipart_threshold == 64 * MIB
    assert config.multipart_chunksize * 10_000 >= size
    assert config.multipart_chunksize * config.max_in_memory_upload_chunks < size / 100
    assert stream_transfer_config(100 * MIB).multipart_chunksize == 16 * MIB


# --- authentication ----------------------------------------------------------------------------
def test_jwt_is_obtained_once_and_sent_as_bearer_on_every_call(icav2_server, cup):
    icav2.folder_upload_credentials("cup-share", "/shared/cup/")
    icav2.folder_upload_credentials("cup-share", "/shared/cup/")

    (token_call,) = icav2_server.calls("POST", "/api/tokens")
    assert token_call.header("X-API-Key") == icav2_server.api_key
    assert token_call.header("Authorization") is None
    others = [call for call in icav2_server.received if call is not token_call]
    assert len(others) > 5
    for call in others:
        assert call.header("Authorization") == f"Bearer {next(iter(icav2_server.tokens))}"
        assert call.header("X-API-Key") is None
        assert MEDIA_TYPE in call.header("Accept")
        assert call.status in (200, 201)


def test_expired_jwt_is_replaced_by_a_new_one(icav2_server, cup):
    icav2.ensure_folder("cup-share", "/shared/cup/")
    icav2_server.revoke_tokens()

    icav2.ensure_folder("cup-share", "/shared/cup/")

    assert len(icav2_server.calls("POST", "/api/tokens")) == 2
    assert [call.status for call in icav2_server.received].count(401) == 1


def test_wrong_api_key_is_an_icav2_error_that_says_to_check_icav2_api_key(
    icav2_server, cup, settings
):
    settings.ICAV2_API_KEY = "not-the-key-ICAv2-issued"

    with pytest.raises(Icav2Error, match="ICAV2_API_KEY") as raised:
        icav2.resolve_project_id("cup-share")

    message = str(raised.value)
    assert "401" in message
    assert "POST /api/tokens" in message
    assert "Invalid API key" in message  # ICAv2's own problem detail
    assert "not-the-key-ICAv2-issued" not in message
    assert raised.value.status == 401
    assert raised.value.details["problem"]["status"] == 401


def test_missing_api_key_says_to_set_it(settings):
    settings.ICAV2_API_KEY = None

    with pytest.raises(Icav2Error, match="set ICAV2_API_KEY"):
        icav2.folder_upload_credentials("cup-share", "/shared/cup/")


def test_unknown_project_id_is_a_404_that_says_to_check_project_and_folder(icav2_server):
    project_id = str(uuid.uuid4())

    with pytest.raises(Icav2Error) as raised:
        icav2.folder_upload_credentials(project_id, "/shared/cup/")

    message = str(raised.value)
    assert f"404 Not Found to GET /api/projects/{project_id}/data" in message
    assert f"Project {project_id} not found" in message
    assert "project and the folder exist" in message


def test_secrets_never_reach_the_logs(icav2_server, cup, caplog):
    caplog.set_level(logging.DEBUG)
    icav2_server.fail("GET", "/api/projects", 503, retry_after="0")

    credentials = icav2.folder_upload_credentials("cup-share", "/shared/cup/")

    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "Created ICAv2 folder /shared/cup/" in logged
    assert "retrying" in logged
    for secret in [
        icav2_server.api_key,
        *icav2_server.tokens,
        credentials.secret_key,
        credentials.session_token,
    ]:
        assert secret not in logged


# --- retries -----------------------------------------------------------------------------------
@pytest.mark.e2e  # waits the Retry-After second
def test_rate_limited_call_is_retried_after_retry_after(icav2_server, cup):
    icav2_server.fail("GET", "/api/projects", 429, retry_after="1")
    started = time.monotonic()

    assert icav2.resolve_project_id("cup-share") == cup

    assert time.monotonic() - started >= 1
    assert [call.status for call in icav2_server.calls("GET", "/api/projects")] == [429, 200]


def test_server_errors_are_retried_then_reported_with_the_endpoint(icav2_server, cup):
    icav2_server.fail("GET", "/api/projects", 503, times=10, retry_after="0")

    with pytest.raises(Icav2Error, match="503 Service Unavailable to GET /api/projects"):
        icav2.resolve_project_id("cup-share")

    assert len(icav2_server.calls("GET", "/api/projects")) == icav2.MAX_ATTEMPTS


def test_unreachable_icav2_is_retried_then_says_to_check_the_base_url():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    api = icav2.Icav2Client(f"http://127.0.0.1:{port}/ica/rest", "key", backoff_seconds=0.01)

    with pytest.raises(Icav2Error, match="check ICAV2_BASE_URL") as raised:
        api.call("GET", "/api/projects")

    assert f"after {icav2.MAX_ATTEMPTS} attempts" in str(raised.value)


# --- settings ----------------------------------------------------------------------------------
def icav2_settings(tmp_path, **variables: str) -> subprocess.CompletedProcess:
    """Start Django in a fresh interpreter with these variables and print the ICAv2 settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ICAV2_", "DJANGO_"))}
    env |= {
        "DJANGO_SETTINGS_MODULE": "sharing_project.settings",
        "SECRET_KEY": "settings-probe",
        "DSM_DATA_DIR": str(tmp_path),
        **variables,
    }
    probe = (
        "import json, django; from django.conf import settings; django.setup(); "
        "print(json.dumps([settings.ICAV2_BASE_URL, settings.ICAV2_API_KEY]))"
    )
    return subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True
    )


@pytest.mark.e2e  # a fresh interpreter
def test_icav2_settings_default_to_illumina_and_no_key(tmp_path):
    result = icav2_settings(tmp_path)

    assert json.loads(result.stdout) == ["https://ica.illumina.com/ica/rest", None]


@pytest.mark.e2e
def test_icav2_settings_are_read_from_the_environment(tmp_path):
    result = icav2_settings(
        tmp_path, ICAV2_BASE_URL="https://ica.example.org/ica/rest/", ICAV2_API_KEY="k-123"
    )

    assert json.loads(result.stdout) == ["https://ica.example.org/ica/rest", "k-123"]


def test_malformed_icav2_base_url_stops_start_up(tmp_path):
    result = icav2_settings(tmp_path, ICAV2_BASE_URL="ica.illumina.com/ica/rest")

    assert result.returncode != 0
    assert "ICAV2_BASE_URL must be an http:// or https:// URL" in result.stderr
