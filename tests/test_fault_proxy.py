"""S3 calls through tests/support/fault_proxy.py, between boto3 and moto: bytes pass unchanged, and puts
and copies still complete when the server throttles (503 SlowDown) and drops connections,
because botocore's standard retry mode retries both."""

from __future__ import annotations

import base64
import hashlib
import http.client
import os
import socket
import zlib
from collections.abc import Callable, Iterator

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionClosedError
from botocore.retries.standard import ExponentialBackoff

from tests.support.fault_proxy import FaultProxy

BUCKET = "fault-proxy-tests"
REGION = "ap-southeast-2"


@pytest.fixture
def proxy(s3_endpoint: str) -> Iterator[Callable[..., FaultProxy]]:
    """Start proxies in front of moto; all are stopped after the test."""
    started: list[FaultProxy] = []

    def make(**faults) -> FaultProxy:
        started.append(FaultProxy(s3_endpoint, **faults).start())
        return started[-1]

    yield make
    for each in started:
        each.stop()


@pytest.fixture
def bucket(s3) -> str:
    """An empty bucket, made directly on moto (not through a proxy)."""
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    return BUCKET


def client_through(proxy: FaultProxy, *, max_attempts: int = 8):
    """A boto3 client configured as the service's, with test credentials, via the proxy."""
    return boto3.session.Session().client(
        "s3",
        endpoint_url=proxy.endpoint,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(
            retries={"mode": "standard", "max_attempts": max_attempts},
            signature_version="s3v4",
            s3={"addressing_style": "path"},
        ),
    )


def body_for(number: int) -> bytes:
    """Distinct random bodies of varied sizes, from 0 bytes to ~150 KiB."""
    return os.urandom((number * 7919) % 150_000)


def test_without_faults_bytes_pass_unchanged(s3, bucket, proxy) -> None:
    fault_free = proxy()
    through = client_through(fault_free)
    bodies = {
        "empty": b"",
        "small.txt": b"hello, proxy\r\n\r\n",
        "binary.bin": bytes(range(256)) * 64,
        "large.bin": os.urandom(3 * 1024 * 1024 + 17),  # several reads and writes per message
        "chunks/looking like HTTP": b"0\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n",
    }
    for key, body in bodies.items():
        through.put_object(Bucket=bucket, Key=key, Body=body)
    for key, body in bodies.items():
        assert through.get_object(Bucket=bucket, Key=key)["Body"].read() == body
        assert through.head_object(Bucket=bucket, Key=key)["ContentLength"] == len(body)
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == body
    listed = through.list_objects_v2(Bucket=bucket)["Contents"]
    assert sorted(item["Key"] for item in listed) == sorted(bodies)
    ranged = through.get_object(Bucket=bucket, Key="binary.bin", Range="bytes=10-19")
    assert ranged["Body"].read() == bodies["binary.bin"][10:20]
    requests = len(bodies) * 3 + 2  # put, get and head of each; a list; a ranged get
    assert (fault_free.requests, fault_free.forwarded) == (requests, requests)
    assert (fault_free.slowdowns, fault_free.resets) == (0, 0)
    assert fault_free.errors == []


@pytest.fixture
def quick_backoff(monkeypatch) -> None:
    """Botocore's backoff, a tenth as long: a throttled retry otherwise waits up to 1 s, then
    2 s (about 30 s for the test below). What is retried, and how often, is unchanged."""
    delay_amount = ExponentialBackoff.delay_amount
    monkeypatch.setattr(
        ExponentialBackoff, "delay_amount", lambda self, context: delay_amount(self, context) / 10
    )


@pytest.mark.e2e  # retries with backoff: seconds
@pytest.mark.usefixtures("quick_backoff")
def test_puts_and_copies_survive_throttling_and_resets(s3, bucket, proxy) -> None:
    faulty = proxy(slowdown_every=3, reset_every=5)
    through = client_through(faulty)
    bodies = {f"source/{number:02d}": body_for(number) for number in range(40)}
    for key, body in bodies.items():
        through.put_object(Bucket=bucket, Key=key, Body=body)
    for key in bodies:
        through.copy_object(
            CopySource={"Bucket": bucket, "Key": key},
            Bucket=bucket,
            Key=key.replace("source/", "copy/"),
        )
    for key, body in bodies.items():  # read back directly from moto, not through the proxy
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == body
        copy = key.replace("source/", "copy/")
        assert s3.get_object(Bucket=bucket, Key=copy)["Body"].read() == body
    # 80 calls succeeded, each forwarded once; every fault was retried by botocore.
    assert faulty.forwarded == 80
    assert faulty.slowdowns > 0
    assert faulty.resets > 0
    assert faulty.requests == faulty.forwarded + faulty.slowdowns + faulty.resets
    # Faults fall on every 5th (reset) and otherwise every 3rd (SlowDown) request.
    assert faulty.resets == faulty.requests // 5
    assert faulty.slowdowns == faulty.requests // 3 - faulty.requests // 15
    assert faulty.errors == []


@pytest.mark.e2e  # a retry's backoff: a second
def test_a_slowdown_reaches_a_client_that_does_not_retry(bucket, proxy) -> None:
    throttling = proxy(slowdown_every=1)
    through = client_through(throttling, max_attempts=1)
    with pytest.raises(ClientError) as caught:
        through.put_object(Bucket=bucket, Key="refused", Body=b"never stored")
    assert caught.value.response["Error"]["Code"] == "SlowDown"
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
    # Config's max_attempts counts retries (total_max_attempts counts attempts): 1 + 1 tries.
    assert caught.value.response["ResponseMetadata"]["RetryAttempts"] == 1
    assert (throttling.requests, throttling.slowdowns, throttling.forwarded) == (2, 2, 0)


def test_faults_only_for_the_methods_named(bucket, proxy) -> None:
    writes_refused = proxy(slowdown_every=1, only_methods=("PUT",))
    through = client_through(writes_refused, max_attempts=0)  # no retries
    with pytest.raises(ClientError, match="SlowDown"):
        through.put_object(Bucket=bucket, Key="refused", Body=b"never stored")
    assert through.list_objects_v2(Bucket=bucket)["KeyCount"] == 0  # a GET: forwarded
    with pytest.raises(ClientError) as caught:
        through.head_object(Bucket=bucket, Key="refused")  # a HEAD: forwarded, and 404
    assert caught.value.response["Error"]["Code"] == "404"
    assert (writes_refused.slowdowns, writes_refused.forwarded) == (1, 2)


def test_a_reset_reaches_a_client_that_does_not_retry(bucket, proxy) -> None:
    resetting = proxy(reset_every=1)
    through = client_through(resetting, max_attempts=0)  # no retries
    with pytest.raises(ConnectionClosedError):
        through.put_object(Bucket=bucket, Key="dropped", Body=b"never stored")
    assert (resetting.requests, resetting.resets, resetting.forwarded) == (1, 1, 0)


def test_stop_closes_the_port_and_open_connections(proxy) -> None:
    stopped = proxy()
    host, port = stopped.endpoint.removeprefix("http://").split(":")
    idle = http.client.HTTPConnection(host, int(port), timeout=5)
    idle.request("GET", "/")  # moto's ListBuckets; the connection then stays open, idle
    assert idle.getresponse().read().startswith(b"<?xml")
    stopped.stop()
    assert idle.sock.recv(1) == b""  # the proxy's end of the idle connection is gone
    idle.close()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((host, int(port)), timeout=5).close()


def test_chunked_aws_chunked_bodies_are_forwarded_raw(s3, bucket, proxy) -> None:
    """Botocore sends aws-chunked bodies with a trailing checksum only over HTTPS; this is such
    an upload, by hand, HTTP-chunked as well. Every request shares one connection, so a wrongly
    framed body would garble the next request."""
    every_second = proxy(slowdown_every=2)
    host, port = every_second.endpoint.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    data = os.urandom(100_000)
    checksum = base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()
    aws_chunked = b"".join(
        [b"%x\r\n%s\r\n" % (len(part), part) for part in (data[:70_000], data[70_000:])]
        + [b"0\r\n", f"x-amz-checksum-crc32:{checksum}\r\n\r\n".encode()]
    )
    statuses = []
    for key in ("first", "throttled", "third"):
        connection.putrequest("PUT", f"/{bucket}/{key}", skip_accept_encoding=True)
        for name, value in {
            "Content-Encoding": "aws-chunked",
            "x-amz-decoded-content-length": str(len(data)),
            "x-amz-content-sha256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
            "x-amz-trailer": "x-amz-checksum-crc32",
            "Transfer-Encoding": "chunked",
            "Expect": "100-continue",
        }.items():
            connection.putheader(name, value)
        connection.endheaders()
        for start in range(0, len(aws_chunked), 8192):
            piece = aws_chunked[start : start + 8192]
            connection.send(b"%x\r\n%s\r\n" % (len(piece), piece))
        connection.send(b"0\r\n\r\n")
        response = connection.getresponse()  # http.client skips the 100 Continue
        body = response.read()
        statuses.append(response.status)
        if response.status == 200:
            assert response.headers["ETag"] == f'"{hashlib.md5(data).hexdigest()}"'
        else:
            assert b"<Code>SlowDown</Code>" in body
    connection.close()
    assert statuses == [200, 503, 200]
    for key in ("first", "third"):
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == data
    assert (every_second.forwarded, every_second.slowdowns, every_second.errors) == (2, 1, [])
