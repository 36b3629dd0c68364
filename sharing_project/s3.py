"""The one module that talks to S3. Everything else calls these functions.

The client follows boto3's standard configuration (profiles, roles, AWS_* variables) plus the
endpoint and region from settings, signs with SigV4 (with a custom endpoint boto3 would presign
with SigV2 otherwise) and retries throttling and 5xx in botocore's standard mode.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import boto3
import botocore.session
from botocore.config import Config
from botocore.exceptions import ClientError
from django.conf import settings
from django.core.exceptions import ValidationError

# Buckets: 3-63 lower-case letters, digits, dots and hyphens, starting and ending alphanumeric.
_BUCKET = r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]"
_S3_URI = re.compile(rf"^s3://(?P<bucket>{_BUCKET})/(?P<key>.*)$", re.DOTALL)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

STORAGE_CLASSES = (
    "STANDARD",
    "REDUCED_REDUNDANCY",
    "STANDARD_IA",
    "ONEZONE_IA",
    "INTELLIGENT_TIERING",
    "GLACIER",
    "DEEP_ARCHIVE",
    "GLACIER_IR",
    "OUTPOSTS",
    "SNOW",
    "EXPRESS_ONEZONE",
)
# Objects in these classes cannot be read until restored.
ARCHIVED_STORAGE_CLASSES = frozenset({"GLACIER", "DEEP_ARCHIVE"})
# Objects in these classes may be unreadable: Intelligent-Tiering moves objects to its archive
# tiers on its own, which only HEAD tells (ArchiveStatus).
ARCHIVABLE_STORAGE_CLASSES = ARCHIVED_STORAGE_CLASSES | {"INTELLIGENT_TIERING"}


@dataclass(frozen=True)
class S3Uri:
    bucket: str
    key: str

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


@dataclass(frozen=True)
class S3Object:
    bucket: str
    key: str
    size: int
    etag: str
    storage_class: str

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


def parse_s3_uri(uri: str, *, prefix: bool = False) -> S3Uri:
    """Split `s3://bucket/key`; raise ValidationError saying what is wrong.

    With `prefix=True` the key is a folder: it may be empty and is given a trailing slash.
    """
    match = _S3_URI.match(uri or "")
    if not match:
        raise ValidationError(
            f"{uri!r} is not an S3 URI; expected s3://bucket/path with a valid bucket name.",
            code="invalid_s3_uri",
        )
    key = match["key"]
    if _CONTROL.search(key):
        raise ValidationError(f"{uri!r} contains a control character.", code="invalid_s3_uri")
    if prefix:
        if key and not key.endswith("/"):
            key += "/"
    elif not key or key.endswith("/"):
        raise ValidationError(
            f"{uri!r} names a folder, not an object; give the object's full key.",
            code="invalid_s3_uri",
        )
    return S3Uri(match["bucket"], key)


def validate_object_uri(uri: str) -> None:
    parse_s3_uri(uri)


def validate_prefix_uri(uri: str) -> None:
    parse_s3_uri(uri, prefix=True)


@functools.cache
def _session_client(endpoint_url: str | None, region: str, max_attempts: int):
    config = Config(
        signature_version="s3v4",
        retries={"mode": "standard", "total_max_attempts": max_attempts},
        # A custom endpoint on loopback has no per-bucket host names.
        s3={"addressing_style": "path" if endpoint_url else "auto"},
        max_pool_connections=32,
    )
    return boto3.session.Session().client(
        "s3", endpoint_url=endpoint_url, region_name=region, config=config
    )


def client():
    """A shared, thread-safe S3 client built from settings."""
    return _session_client(settings.AWS_ENDPOINT_URL, settings.AWS_REGION, settings.S3_MAX_ATTEMPTS)


def bucket_exists(bucket: str) -> bool:
    try:
        client().head_bucket(Bucket=bucket)
        return True
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in ("404", "NoSuchBucket", "NotFound"):
            return False
        raise


def ensure_bucket(bucket: str) -> bool:
    """Create the bucket if it does not exist; return True when it was created."""
    if bucket_exists(bucket):
        return False
    s3 = client()
    kwargs: dict = {"Bucket": bucket}
    if settings.AWS_REGION != "us-east-1":
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": settings.AWS_REGION}
    s3.create_bucket(**kwargs)
    return True


def put_object(
    uri: str,
    body: bytes,
    *,
    storage_class: str = "STANDARD",
    content_type: str | None = None,
    download_name: str | None = None,
    using=None,
    extra: dict | None = None,
) -> S3Object:
    """Write an object and return what S3 recorded (size, ETag, storage class); `using`
    writes with another client (other credentials), `extra` adds PutObject arguments."""
    target = parse_s3_uri(uri)
    kwargs: dict = {
        "Bucket": target.bucket,
        "Key": target.key,
        "Body": body,
        "StorageClass": storage_class,
    }
    if content_type:
        kwargs["ContentType"] = content_type
    if download_name:
        kwargs["ContentDisposition"] = f'attachment; filename="{download_name}"'
    response = (using or client()).put_object(**kwargs, **(extra or {}))
    return S3Object(target.bucket, target.key, len(body), _etag(response["ETag"]), storage_class)


def head_object(uri: str) -> S3Object:
    target = parse_s3_uri(uri)
    response = client().head_object(Bucket=target.bucket, Key=target.key)
    return S3Object(
        target.bucket,
        target.key,
        response["ContentLength"],
        _etag(response["ETag"]),
        response.get("StorageClass", "STANDARD"),
    )


READABLE = "readable"
ARCHIVED = "archived"
RESTORING = "restoring"


def archive_state(uri: str) -> str:
    """READABLE, ARCHIVED (not restored, no restore under way) or RESTORING."""
    target = parse_s3_uri(uri)
    response = client().head_object(Bucket=target.bucket, Key=target.key)
    restore = response.get("Restore", "")
    if 'ongoing-request="true"' in restore:
        return RESTORING
    if response.get("ArchiveStatus"):  # Intelligent-Tiering archive access tiers
        return ARCHIVED
    if response.get("StorageClass", "STANDARD") not in ARCHIVED_STORAGE_CLASSES:
        return READABLE
    # A finished restore says ongoing-request="false" and leaves a readable copy.
    return READABLE if 'ongoing-request="false"' in restore else ARCHIVED


def is_archived(uri: str) -> bool:
    """True when the object cannot be read now: archived and not (yet) restored."""
    return archive_state(uri) != READABLE


def request_restore(uri: str, *, days: int, tier: str) -> str:
    """Ask S3 to restore an archived object; RESTORING whether asked now or already asked."""
    target = parse_s3_uri(uri)
    try:
        client().restore_object(
            Bucket=target.bucket,
            Key=target.key,
            RestoreRequest={"Days": days, "GlacierJobParameters": {"Tier": tier}},
        )
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "RestoreAlreadyInProgress":
            raise
    return RESTORING


@dataclass(frozen=True)
class Presigner:
    """Signs GET URLs that all die at `expires_at`, the true expiry: the requested lifetime,
    cut short when the signing credentials are temporary and die first."""

    client: object
    expires_at: datetime
    warning: str = ""

    @property
    def expires_in(self) -> int:
        return max(1, int((self.expires_at - datetime.now(UTC)).total_seconds()))

    def url(self, uri: str) -> str:
        return self.urls([uri])[0]

    def urls(self, uris: list[str]) -> list[str]:
        """Many links at once: the lifetime left is read once per thousand, not per link."""
        signed = []
        for start in range(0, len(uris), 1000):
            expires_in = self.expires_in
            for uri in uris[start : start + 1000]:
                target = parse_s3_uri(uri)
                signed.append(
                    self.client.generate_presigned_url(
                        "get_object",
                        Params={"Bucket": target.bucket, "Key": target.key},
                        ExpiresIn=expires_in,
                    )
                )
        return signed


@functools.cache
def _data_loader():
    """botocore's loader of service models (read-only JSON, cached inside it), shared by the
    signing sessions: a new session would otherwise read and parse the S3 model again, about
    50 ms each time."""
    return botocore.session.Session().get_component("data_loader")


def presigner(lifetime_seconds: int) -> Presigner:
    """A signer on PRESIGN_AWS_PROFILE (a dedicated identity for week-long links) or the
    default credentials, frozen now so that every URL is signed by the same credentials.
    A new session each time, so that credentials are resolved afresh (profiles, the
    environment); only the service models are shared."""
    lifetime_seconds = min(lifetime_seconds, settings.PRESIGNED_URL_MAX_LIFETIME_SECONDS)
    session = botocore.session.Session(profile=settings.PRESIGN_AWS_PROFILE)
    session.register_component("data_loader", _data_loader())
    credentials = session.get_credentials()
    if credentials is None:
        raise RuntimeError("No AWS credentials to sign download links with.")
    frozen = credentials.get_frozen_credentials()  # refreshes them first when near expiry
    now = datetime.now(UTC)
    expires_at = now + timedelta(seconds=lifetime_seconds)
    warning = ""
    # botocore keeps the expiry of refreshable credentials (assumed roles, SSO, containers,
    # credential_process) in this attribute; there is no public accessor.
    credentials_expiry = getattr(credentials, "_expiry_time", None)
    if credentials_expiry is not None and credentials_expiry < expires_at:
        expires_at = credentials_expiry.astimezone(UTC)
        warning = (
            f"The signing credentials expire at {expires_at:%Y-%m-%d %H:%M} UTC, before the "
            f"{lifetime_seconds // 3600} h asked for: the links die with them. Set "
            "PRESIGN_AWS_PROFILE to a dedicated signing identity for week-long links."
        )
    elif credentials_expiry is None and frozen.token:
        assumed = now + timedelta(seconds=settings.TEMPORARY_CREDENTIALS_LIFETIME_SECONDS)
        if assumed < expires_at:
            expires_at = assumed
            warning = (
                "The signing credentials are temporary (a session token) with no known expiry; "
                f"the links are taken to last until {expires_at:%Y-%m-%d %H:%M} UTC. Set "
                "PRESIGN_AWS_PROFILE to a dedicated signing identity for week-long links."
            )
    signing_client = session.create_client(
        "s3",
        endpoint_url=settings.AWS_ENDPOINT_URL,
        region_name=settings.AWS_REGION,
        aws_access_key_id=frozen.access_key,
        aws_secret_access_key=frozen.secret_key,
        aws_session_token=frozen.token,
        config=Config(
            signature_version="s3v4",
            s3={"addressing_style": "path" if settings.AWS_ENDPOINT_URL else "virtual"},
        ),
    )
    return Presigner(signing_client, expires_at.replace(microsecond=0), warning)


def get_object_bytes(uri: str) -> bytes:
    target = parse_s3_uri(uri)
    return client().get_object(Bucket=target.bucket, Key=target.key)["Body"].read()


def list_objects(prefix_uri: str, *, using=None) -> Iterator[S3Object]:
    """Every object under a prefix, page by page, in key order (`using`: another client)."""
    target = parse_s3_uri(prefix_uri, prefix=True)
    paginator = (using or client()).get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=target.bucket, Prefix=target.key):
        for item in page.get("Contents", []):
            yield S3Object(
                target.bucket,
                item["Key"],
                item["Size"],
                _etag(item["ETag"]),
                item.get("StorageClass", "STANDARD"),
            )


# --- server-side copies ------------------------------------------------------------------------
MIB = 1024 * 1024
MIN_PART_SIZE = 5 * MIB
MAX_PARTS = 10_000
MAX_SINGLE_COPY = 5 * 1024 * MIB  # CopyObject's own limit


@dataclass(frozen=True)
class CopyOptions:
    multipart_threshold: int
    part_size: int
    storage_class: str | None = None
    bucket_owner_full_control: bool = False

    def extra(self) -> dict:
        extra: dict = {}
        if self.storage_class:
            extra["StorageClass"] = self.storage_class
        if self.bucket_owner_full_control:
            extra["ACL"] = "bucket-owner-full-control"
        return extra


def copy_object(source_uri: str, destination_uri: str, size: int, options: CopyOptions) -> str:
    """Copy server-side and return the new object's ETag.

    One CopyObject request is the fast path; objects above the threshold (and always above
    5 GiB, CopyObject's limit) are copied in parts of at least size/10,000.
    """
    source, target = parse_s3_uri(source_uri), parse_s3_uri(destination_uri)
    copy_source = {"Bucket": source.bucket, "Key": source.key}
    if size <= min(options.multipart_threshold, MAX_SINGLE_COPY):
        response = client().copy_object(
            CopySource=copy_source, Bucket=target.bucket, Key=target.key, **options.extra()
        )
        return _etag(response["CopyObjectResult"]["ETag"])
    return _multipart_copy(copy_source, target, size, options)


def _multipart_copy(copy_source: dict, target: S3Uri, size: int, options: CopyOptions) -> str:
    s3 = client()
    part_size = max(options.part_size, MIN_PART_SIZE, -(-size // MAX_PARTS))
    upload = s3.create_multipart_upload(Bucket=target.bucket, Key=target.key, **options.extra())
    upload_id = upload["UploadId"]

    def copy_part(number: int) -> dict:
        first = (number - 1) * part_size
        last = min(first + part_size, size) - 1
        response = s3.upload_part_copy(
            Bucket=target.bucket,
            Key=target.key,
            UploadId=upload_id,
            PartNumber=number,
            CopySource=copy_source,
            CopySourceRange=f"bytes={first}-{last}",
        )
        return {"PartNumber": number, "ETag": response["CopyPartResult"]["ETag"]}

    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            parts = list(pool.map(copy_part, range(1, -(-size // part_size) + 1)))
        response = s3.complete_multipart_upload(
            Bucket=target.bucket,
            Key=target.key,
            UploadId=upload_id,
            MultipartUpload={"Parts": parts},
        )
    except BaseException:
        s3.abort_multipart_upload(Bucket=target.bucket, Key=target.key, UploadId=upload_id)
        raise
    return _etag(response["ETag"])


def delete_object(uri: str, *, using=None) -> None:
    target = parse_s3_uri(uri)
    (using or client()).delete_object(Bucket=target.bucket, Key=target.key)


def error_code(error: Exception) -> str:
    """S3's error code of a failed call ("AccessDenied", "NoSuchBucket", ...), or ""."""
    if isinstance(error, ClientError):
        return str(error.response.get("Error", {}).get("Code", ""))
    return ""


def _etag(raw: str) -> str:
    return raw.strip('"')


# --- copies with other credentials (ICAv2) ---
# This section is appended to the module, its import kept with it.
from boto3.s3.transfer import TransferConfig  # noqa: E402

STREAM_MULTIPART_THRESHOLD = 64 * MIB
STREAM_PART_SIZE = 16 * MIB
STREAM_THREADS = 4


class IncompleteCopy(RuntimeError):
    """The object written is not the size of the object read."""


def client_for_credentials(access_key: str, secret_key: str, session_token: str, region: str):
    """An S3 client like `client()` (endpoint, SigV4, retries) signing with these credentials,
    e.g. the temporary ones ICAv2 hands out for a folder. Build one per set of credentials and
    share it between threads."""
    config = Config(
        signature_version="s3v4",
        retries={"mode": "standard", "max_attempts": settings.S3_MAX_ATTEMPTS},
        s3={"addressing_style": "path" if settings.AWS_ENDPOINT_URL else "auto"},
        max_pool_connections=32,
    )
    return boto3.session.Session().client(
        "s3",
        endpoint_url=settings.AWS_ENDPOINT_URL,
        region_name=region,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        aws_session_token=session_token,
        config=config,
    )


def stream_transfer_config(
    size: int,
    *,
    multipart_threshold: int = STREAM_MULTIPART_THRESHOLD,
    part_size: int = STREAM_PART_SIZE,
) -> TransferConfig:
    """Upload settings for a streamed copy: parts above the threshold, of at least
    size/10,000 (S3's part limit), and at most a few parts in memory at once."""
    config = TransferConfig(
        multipart_threshold=multipart_threshold,
        multipart_chunksize=max(part_size, MIN_PART_SIZE, -(-size // MAX_PARTS)),
        max_concurrency=STREAM_THREADS,
        use_threads=True,
        preferred_transfer_client="classic",
    )
    # A non-seekable source is read part by part into memory: bound how many parts wait there.
    config.max_in_memory_upload_chunks = 2 * STREAM_THREADS
    return config


def stream_copy(
    source_uri: str,
    destination_client,
    bucket: str,
    key: str,
    size: int,
    *,
    multipart_threshold: int = STREAM_MULTIPART_THRESHOLD,
    part_size: int = STREAM_PART_SIZE,
    extra_args: dict | None = None,
) -> str:
    """Copy an object through this process to where only `destination_client` may write; return
    the new object's ETag.

    Steps: open the source with the service's own client (a streaming GET); upload the stream
    with the destination client, in parts above the threshold, never holding the whole object;
    HEAD the result and check its size.
    """
    source = parse_s3_uri(source_uri)
    body = client().get_object(Bucket=source.bucket, Key=source.key)["Body"]
    try:
        destination_client.upload_fileobj(
            body,
            bucket,
            key,
            ExtraArgs=extra_args or None,
            Config=stream_transfer_config(
                size, multipart_threshold=multipart_threshold, part_size=part_size
            ),
        )
    finally:
        body.close()
    head = destination_client.head_object(Bucket=bucket, Key=key)
    if head["ContentLength"] != size:
        raise IncompleteCopy(
            f"Copied {source_uri} to s3://{bucket}/{key} but it holds {head['ContentLength']} "
            f"bytes, not {size}."
        )
    return _etag(head["ETag"])
