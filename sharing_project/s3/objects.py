"""Objects and buckets: put, head, get, list, delete; and what a failed call means."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from boto3.s3.transfer import TransferConfig
from botocore.exceptions import BotoCoreError, ClientError, FlexibleChecksumError
from django.conf import settings

from sharing_project.s3.client import client, probe_client
from sharing_project.s3.uris import bare_etag, parse_s3_uri

UPLOAD_PART_SIZE = 64 * 1024 * 1024


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


def bucket_exists(bucket: str) -> bool:
    try:
        client().head_bucket(Bucket=bucket)
        return True
    except ClientError as error:
        if error_code(error) in ("404", "NoSuchBucket", "NotFound"):
            return False
        raise


def bucket_problem(bucket: str) -> str | None:
    """None when a HEAD of the bucket succeeds (one attempt, a few seconds at most); else what
    went wrong, in words that carry no credential: for health checks."""
    try:
        probe_client().head_bucket(Bucket=bucket)
    except ClientError as error:
        code = error_code(error)
        if code in ("404", "NoSuchBucket", "NotFound"):
            return "no such bucket"
        if code in ("403", "AccessDenied"):
            return "access denied"
        return f"S3 answered {code}"
    except BotoCoreError as error:
        return f"S3 cannot be reached ({type(error).__name__})"
    return None


def bucket_region(bucket: str) -> str | None:
    """The bucket's region as S3 tells it (one HEAD, one attempt), or None when it will not:
    S3 names the region in a header of the answer, a refusal (403) included, so a bucket this
    service may not read still tells it; a bucket that does not exist does not."""
    try:
        response = probe_client().head_bucket(Bucket=bucket)
    except ClientError as error:
        response = error.response
    except BotoCoreError:
        return None
    headers = response.get("ResponseMetadata", {}).get("HTTPHeaders", {})
    return headers.get("x-amz-bucket-region") or None


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
    return S3Object(
        target.bucket, target.key, len(body), bare_etag(response["ETag"]), storage_class
    )


def upload_file(
    uri: str,
    path: Path,
    *,
    content_type: str,
    download_name: str | None = None,
    using=None,
    extra: dict | None = None,
) -> None:
    """Write a local file as an object, in parts when it is big (boto3's managed transfer), so
    nothing holds it in memory whole; `download_name` names the file a browser saves."""
    target = parse_s3_uri(uri)
    arguments = {"ContentType": content_type, **(extra or {})}
    if download_name:
        arguments["ContentDisposition"] = f'attachment; filename="{download_name}"'
    (using or client()).upload_file(
        str(path),
        target.bucket,
        target.key,
        ExtraArgs=arguments,
        Config=TransferConfig(
            multipart_threshold=UPLOAD_PART_SIZE, multipart_chunksize=UPLOAD_PART_SIZE
        ),
    )


def head_object(uri: str) -> S3Object:
    target = parse_s3_uri(uri)
    response = client().head_object(Bucket=target.bucket, Key=target.key)
    return S3Object(
        target.bucket,
        target.key,
        response["ContentLength"],
        bare_etag(response["ETag"]),
        response.get("StorageClass", "STANDARD"),
    )


def get_object_bytes(uri: str) -> bytes:
    target = parse_s3_uri(uri)
    return client().get_object(Bucket=target.bucket, Key=target.key)["Body"].read()


def open_object(uri: str):
    """The object's body, to read as a stream (botocore's StreamingBody), and its length."""
    target = parse_s3_uri(uri)
    response = client().get_object(Bucket=target.bucket, Key=target.key)
    return response["Body"], response["ContentLength"]


def list_objects(prefix_uri: str, *, using=None, start_after: str = "") -> Iterator[S3Object]:
    """Every object under a prefix, page by page, in key order (`using`: another client;
    `start_after`: only the keys after this one)."""
    target = parse_s3_uri(prefix_uri, prefix=True)
    paginator = (using or client()).get_paginator("list_objects_v2")
    extra = {"StartAfter": start_after} if start_after else {}
    for page in paginator.paginate(Bucket=target.bucket, Prefix=target.key, **extra):
        for item in page.get("Contents", []):
            yield S3Object(
                target.bucket,
                item["Key"],
                item["Size"],
                bare_etag(item["ETag"]),
                item.get("StorageClass", "STANDARD"),
            )


def delete_object(uri: str, *, using=None) -> None:
    target = parse_s3_uri(uri)
    (using or client()).delete_object(Bucket=target.bucket, Key=target.key)


def error_code(error: Exception) -> str:
    """S3's error code of a failed call ("AccessDenied", "NoSuchBucket", ...), or ""."""
    if isinstance(error, ClientError):
        return str(error.response.get("Error", {}).get("Code", ""))
    return ""


def is_permanent(error: Exception) -> bool:
    """True when repeating the call cannot help: access is denied or the object is gone
    (botocore has already retried throttling, 5xx and dropped connections)."""
    return error_code(error) in ("AccessDenied", "NoSuchKey")


_WRITE_REFUSALS = {
    "AccessDenied": "access denied: the service's credentials need s3:PutObject and "
    "s3:DeleteObject on it",
    "NoSuchBucket": "the bucket does not exist",
    "AllAccessDisabled": "access to the bucket is disabled",
}


def write_refusal(error: Exception) -> str:
    """Why a write (or the removal of what was written) failed, in words an operator can act
    on; the error itself when S3 gave no reason of those."""
    return _WRITE_REFUSALS.get(error_code(error), f"{type(error).__name__}: {error}")


def check_can_write(prefix_uri: str) -> None:
    """Raise the ClientError S3 gives if this service may not write under the prefix; leave
    nothing behind: a multipart upload is started (S3 checks the PutObject permission) and
    aborted at once, so no object, version or delete marker is made."""
    target = parse_s3_uri(prefix_uri, prefix=True)
    key = f"{target.key}.dsm-write-check"
    s3 = client()
    upload = s3.create_multipart_upload(Bucket=target.bucket, Key=key)
    s3.abort_multipart_upload(Bucket=target.bucket, Key=key, UploadId=upload["UploadId"])


def is_checksum_mismatch(error: Exception) -> bool:
    """True when bytes on the wire did not match their checksum: a body read whose S3
    checksum botocore found wrong, or an upload S3 refused for its checksum (BadDigest)."""
    return isinstance(error, FlexibleChecksumError) or error_code(error) in (
        "BadDigest",
        "InvalidDigest",
    )
