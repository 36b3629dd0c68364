"""Streamed copies: read with the service's credentials, write with others (ICAv2's), through
this process, never holding a whole object, hashing the bytes as they pass."""

from __future__ import annotations

from boto3.s3.transfer import TransferConfig

from sharing_project.errors import IncompleteCopy
from sharing_project.s3.checksums import COPY_ALGORITHM, Digests, Hasher, checksum_in
from sharing_project.s3.client import client
from sharing_project.s3.copy import MIB, Copied, part_size_for
from sharing_project.s3.uris import bare_etag, parse_s3_uri

STREAM_MULTIPART_THRESHOLD = 64 * MIB
STREAM_PART_SIZE = 16 * MIB
STREAM_THREADS = 4


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
        multipart_chunksize=part_size_for(size, part_size),
        max_concurrency=STREAM_THREADS,
        use_threads=True,
        preferred_transfer_client="classic",
    )
    # A non-seekable source is read part by part into memory: bound how many parts wait there.
    config.max_in_memory_upload_chunks = 2 * STREAM_THREADS
    return config


class HashingReader:
    """A non-seekable reader over `body` that hashes what passes through it (MD5, SHA-256,
    CRC32), one read at a time. The uploader reads it once, in order, from one thread."""

    def __init__(self, body):
        self.body = body
        self.hasher = Hasher()

    def read(self, amount: int | None = None) -> bytes:
        chunk = self.body.read(None if amount is None or amount < 0 else amount)
        self.hasher.update(chunk)
        return chunk

    def digests(self) -> Digests:
        return self.hasher.digests()


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
) -> Copied:
    """Copy an object through this process to where only `destination_client` may write;
    return the new object's ETag, the storage's full-object CRC32 of it (when it reports
    one) and the digests of the bytes read.

    Steps: open the source with the service's own client (a streaming GET) and hash it as it
    is read; upload the stream with the destination client, in parts above the threshold,
    never holding the whole object, each request with a CRC32 of its bytes for the storage to
    check on write, a multipart upload asking for a full-object CRC32 (ChecksumType
    FULL_OBJECT); HEAD the result in checksum mode and check its size. Comparing the
    checksums is the caller's (jobs.verify.prove).
    """
    source = parse_s3_uri(source_uri)
    body = client().get_object(Bucket=source.bucket, Key=source.key)["Body"]
    reader = HashingReader(body)
    try:
        destination_client.upload_fileobj(
            reader,
            bucket,
            key,
            ExtraArgs={
                **(extra_args or {}),
                "ChecksumAlgorithm": COPY_ALGORITHM,
                "ChecksumType": "FULL_OBJECT",  # s3transfer sends it on multipart uploads only
            },
            Config=stream_transfer_config(
                size, multipart_threshold=multipart_threshold, part_size=part_size
            ),
        )
    finally:
        body.close()
    head = destination_client.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
    if head["ContentLength"] != size:
        raise IncompleteCopy(
            f"Copied {source_uri} to s3://{bucket}/{key} but it holds {head['ContentLength']} "
            f"bytes, not {size}."
        )
    return Copied(bare_etag(head["ETag"]), checksum_in(head), reader.digests())
