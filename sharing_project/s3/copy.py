"""Server-side copies: one CopyObject request, or a copy in parts for large objects."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from sharing_project.s3.checksums import (
    COPY_ALGORITHM,
    Digests,
    FullObjectChecksum,
    checksum_in,
    full_object_checksum,
)
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
class Copied:
    """What the destination holds after a copy: its ETag, S3's full-object checksum of the
    bytes it wrote (asked for on every copy), and, for a copy streamed through this process,
    the digests of the bytes read from the source."""

    etag: str
    checksum: FullObjectChecksum | None = None
    digests: Digests | None = None


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


def copy_object(
    source_uri: str,
    destination_uri: str,
    size: int,
    options: CopyOptions,
    *,
    checksum: bool = True,
) -> Copied:
    """Copy server-side, asking S3 for a full-object CRC32 of the bytes it writes.

    One CopyObject request is the fast path; objects above the threshold (and always above
    5 GiB, CopyObject's limit) are copied in parts of at least size/10,000, as one upload
    whose CRC32 covers the whole object (ChecksumType FULL_OBJECT). `checksum=False` asks
    no CRC32 of a single-request copy, whose ETag is already the MD5 of its bytes: S3 then
    makes one pass over the bytes instead of two.
    """
    source, target = parse_s3_uri(source_uri), parse_s3_uri(destination_uri)
    copy_source = {"Bucket": source.bucket, "Key": source.key}
    if size <= min(options.multipart_threshold, MAX_SINGLE_COPY):
        ask = {"ChecksumAlgorithm": COPY_ALGORITHM} if checksum else {}
        response = client().copy_object(
            CopySource=copy_source, Bucket=target.bucket, Key=target.key, **ask, **options.extra()
        )
        result = response["CopyObjectResult"]
        return Copied(bare_etag(result["ETag"]), checksum_in(result))
    return _multipart_copy(copy_source, target, size, options)


def _multipart_copy(copy_source: dict, target: S3Uri, size: int, options: CopyOptions) -> Copied:
    s3 = client()
    part_size = part_size_for(size, options.part_size)
    upload = s3.create_multipart_upload(
        Bucket=target.bucket,
        Key=target.key,
        ChecksumAlgorithm=COPY_ALGORITHM,
        ChecksumType="FULL_OBJECT",
        **options.extra(),
    )
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
        part = response["CopyPartResult"]
        checksum = part.get(f"Checksum{COPY_ALGORITHM}")
        return {"PartNumber": number, "ETag": part["ETag"]} | (
            {f"Checksum{COPY_ALGORITHM}": checksum} if checksum else {}
        )

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
    # S3 answers CompleteMultipartUpload with the object's checksum; a server that does not
    # (moto's) is asked with a HEAD in checksum mode.
    checksum = checksum_in(response) or full_object_checksum(f"s3://{target.bucket}/{target.key}")
    return Copied(bare_etag(response["ETag"]), checksum)
