"""Server-side copies: one CopyObject request, or a copy in parts for large objects."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from sharing_project.s3.client import client
from sharing_project.s3.uris import S3Uri, bare_etag, parse_s3_uri

MIB = 1024 * 1024
MIN_PART_SIZE = 5 * MIB
MAX_PARTS = 10_000
MAX_SINGLE_COPY = 5 * 1024 * MIB  # CopyObject's own limit


def part_size_for(size: int, preferred: int) -> int:
    """The size of the parts of an object: the preferred size, but at least S3's minimum and
    at least size/10,000 (S3's part limit)."""
    return max(preferred, MIN_PART_SIZE, -(-size // MAX_PARTS))


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
        return bare_etag(response["CopyObjectResult"]["ETag"])
    return _multipart_copy(copy_source, target, size, options)


def _multipart_copy(copy_source: dict, target: S3Uri, size: int, options: CopyOptions) -> str:
    s3 = client()
    part_size = part_size_for(size, options.part_size)
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
    return bare_etag(response["ETag"])
