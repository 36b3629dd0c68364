"""What S3 knows of an object's content: its full-object checksum; and the object's bytes
hashed as a stream, for objects S3 has no checksum of."""

from __future__ import annotations

import base64
import hashlib
import zlib
from dataclasses import dataclass

from sharing_project.errors import JobAborted
from sharing_project.s3.client import client
from sharing_project.s3.uris import parse_s3_uri

# The checksums S3 keeps of a whole object, in the order they are preferred.
FULL_OBJECT_ALGORITHMS = ("CRC64NVME", "CRC32C", "CRC32", "SHA256", "SHA1")
# The one S3 is asked to compute on every copy: moto's server computes it, and so can
# this process without a library (zlib).
COPY_ALGORITHM = "CRC32"
READ_CHUNK = 8 * 1024 * 1024


@dataclass(frozen=True)
class FullObjectChecksum:
    algorithm: str  # one of FULL_OBJECT_ALGORITHMS
    value: str  # base64, as S3 gives it

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.value}"


def full_object_checksum(uri: str) -> FullObjectChecksum | None:
    """The object's full-object checksum, read with HEAD in checksum mode; None when S3 has
    none, or only a checksum of its parts (ChecksumType COMPOSITE), which no other copy of
    the same bytes would share."""
    target = parse_s3_uri(uri)
    response = client().head_object(Bucket=target.bucket, Key=target.key, ChecksumMode="ENABLED")
    return checksum_in(response)


def checksum_in(response: dict) -> FullObjectChecksum | None:
    """The full-object checksum in a response of HeadObject, CopyObject (its result) or
    CompleteMultipartUpload, if it holds one."""
    if response.get("ChecksumType", "FULL_OBJECT") != "FULL_OBJECT":
        return None
    for algorithm in FULL_OBJECT_ALGORITHMS:
        value = response.get(f"Checksum{algorithm}")
        if value:
            return FullObjectChecksum(algorithm, value)
    return None


@dataclass(frozen=True)
class Digests:
    md5: str  # hex
    sha256: str  # hex
    crc32: str  # base64, as S3 writes it
    size: int


class Hasher:
    """MD5, SHA-256 and CRC32 of bytes fed in order, one chunk at a time."""

    def __init__(self) -> None:
        self._md5 = hashlib.md5()
        self._sha256 = hashlib.sha256()
        self._crc = 0
        self._size = 0

    def update(self, chunk: bytes) -> None:
        self._md5.update(chunk)
        self._sha256.update(chunk)
        self._crc = zlib.crc32(chunk, self._crc)
        self._size += len(chunk)

    def digests(self) -> Digests:
        crc32 = base64.b64encode(self._crc.to_bytes(4, "big")).decode()
        return Digests(self._md5.hexdigest(), self._sha256.hexdigest(), crc32, self._size)


def hash_object(uri: str, *, should_stop=lambda: False, using=None) -> Digests:
    """Read the object once as a stream and hash it, holding one chunk at a time.
    `should_stop` is asked between chunks; when it says True the read stops with JobAborted
    (the one reason to stop). `using`: another client (other credentials)."""
    target = parse_s3_uri(uri)
    body = (using or client()).get_object(Bucket=target.bucket, Key=target.key)["Body"]
    hasher = Hasher()
    try:
        for chunk in body.iter_chunks(READ_CHUNK):
            hasher.update(chunk)
            if should_stop():
                raise JobAborted(uri)
    finally:
        body.close()
    return hasher.digests()
