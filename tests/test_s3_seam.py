"""The S3 seam itself: what imports boto3, every client it builds is configured alike, and
what ETags and S3's error codes mean."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from botocore.exceptions import ClientError
from botocore.retries.standard import ExponentialBackoff

from sharing_project.s3.client import client, client_for_credentials
from sharing_project.s3.objects import is_permanent, write_refusal
from sharing_project.s3.presign import Presigner, presigner
from sharing_project.s3.uris import bare_etag, etag_md5, single_part_etags
from tests.support.fault_proxy import FaultProxy

REGION = "ap-southeast-2"
ROOT = Path(__file__).resolve().parent.parent

LOADED_AT_START_UP = """
import sys

import django

django.setup()  # the admin's autodiscovery imports every app's admin, forms and services
import catalogue.models, jobs.models, shares.models
from django.db.migrations.loader import MigrationLoader

MigrationLoader(None)  # every app's migrations, read from disk
print(sorted(name for name in ("boto3", "botocore") if name in sys.modules))
"""


def test_start_up_models_and_migrations_do_not_load_boto3() -> None:
    """Regression: models and migrations imported the whole S3 module, and with it boto3, for
    a validator or a list of storage classes."""
    assert printed_by_a_fresh_process(LOADED_AT_START_UP).strip() == "[]"


FIRST_CALLS_AT_ONCE = """
import threading

import django

django.setup()
from sharing_project.s3.client import client, client_for_credentials

at_once = threading.Barrier(16)
built = []


def first_call():
    at_once.wait()
    built.append(client())


threads = [threading.Thread(target=first_call) for _ in range(16)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
other = client_for_credentials("AKIA", "secret", "token", "ap-southeast-2")
print(len({id(c) for c in built}), other._loader is built[0]._loader)
"""


def test_threads_asking_for_the_client_at_once_share_one(s3_endpoint) -> None:
    """Regression: a push's 16 copy threads, starting together in a fresh worker, each built
    a client of their own (functools.cache does not lock), with its own copy of the S3 model:
    a worker of 345 MiB instead of about 105 MiB. Clients for other credentials share the
    models too."""
    assert printed_by_a_fresh_process(FIRST_CALLS_AT_ONCE).split() == ["1", "True"]


def printed_by_a_fresh_process(code: str) -> str:
    """What `code` prints, run by a new Python on the test settings (nothing imported yet)."""
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout


def test_s3_max_attempts_counts_every_attempt_of_every_client(
    s3, s3_endpoint, settings, monkeypatch
) -> None:
    """Regression: clients for other credentials (ICAv2's) took S3_MAX_ATTEMPTS as retries,
    making one request more than the shared client."""
    monkeypatch.setattr(ExponentialBackoff, "delay_amount", lambda self, context: 0)
    s3.create_bucket(Bucket="throttled", CreateBucketConfiguration={"LocationConstraint": REGION})
    settings.S3_MAX_ATTEMPTS = 3
    with FaultProxy(s3_endpoint, slowdown_every=1) as throttling:
        settings.AWS_ENDPOINT_URL = throttling.endpoint
        clients = {
            "shared": client(),
            "other credentials": client_for_credentials("testing", "testing", "", REGION),
        }
        requests = {}
        for name, each in clients.items():
            before = throttling.requests
            with pytest.raises(ClientError, match="SlowDown"):
                each.put_object(Bucket="throttled", Key="never", Body=b"never stored")
            requests[name] = throttling.requests - before
    assert requests == {"shared": 3, "other credentials": 3}


def test_links_on_aws_point_at_the_regions_endpoint_whoever_signs(settings) -> None:
    """Regression: links signed with an ICAv2 folder's credentials pointed at S3's legacy
    global endpoint, the service's own at the region's."""
    settings.AWS_ENDPOINT_URL = None
    folder_client = client_for_credentials("testing", "testing", "token", REGION)
    signers = {
        "service": presigner(3600),
        "folder": Presigner(folder_client, datetime.now(UTC) + timedelta(hours=1)),
    }
    hosts = {
        name: signer.url("s3://dsm-sharing/pull/lims.csv").split("?")[0]
        for name, signer in signers.items()
    }
    expected = f"https://dsm-sharing.s3.{REGION}.amazonaws.com/pull/lims.csv"
    assert hosts == {"service": expected, "folder": expected}


MD5 = "9e107d9d372bb6826bd81d3542a419d6"


def test_an_etag_with_parts_is_not_an_md5() -> None:
    assert bare_etag(f'"{MD5}"') == MD5
    assert etag_md5(MD5) == MD5
    assert etag_md5(f"{MD5}-3") == ""
    assert single_part_etags(MD5, "0" * 32)
    assert not single_part_etags(MD5, f"{MD5}-3")


def test_only_denied_access_and_missing_objects_are_not_worth_retrying() -> None:
    def failed(code: str) -> ClientError:
        return ClientError({"Error": {"Code": code, "Message": code}}, "CopyObject")

    assert is_permanent(failed("AccessDenied"))
    assert is_permanent(failed("NoSuchKey"))
    assert not is_permanent(failed("SlowDown"))
    assert not is_permanent(ConnectionError("reset"))
    assert write_refusal(failed("NoSuchBucket")) == "the bucket does not exist"
    assert write_refusal(ValueError("odd")) == "ValueError: odd"
