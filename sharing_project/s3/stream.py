"""Streamed copies: read with the service's credentials, write with others (ICAv2's), through
this process, never holding a whole object."""

from __future__ import annotations

from boto3.s3.transfer import TransferConfig

from sharing_project.errors import IncompleteCopy
from sharing_project.s3.client import client
from sharing_project.s3.copy import MIB, part_size_for
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
    return bare_etag(head["ETag"])
