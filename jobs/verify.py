"""How a copy is proven equal to its source: by a checksum wherever one is known, never by
size alone while the source has one.

The comparisons, cheapest first (the first that applies decides):

1. a copy streamed through this process: S3's CRC32 of the copy, when it reports one,
   against that of the bytes read, then the digests of the bytes read against the source's
   known checksums (the storage verified each part's bytes as it received them);
2. S3's checksum of the copy against the source's full-object checksum of the same algorithm;
3. the copy's ETag, when it is the MD5 of its bytes (one CopyObject), against the source's
   MD5; a difference is confirmed with S3's checksums, or by reading the copy back (a
   destination encrypting with KMS gives ETags that are not MD5s), before the copy is called
   different;
4. S3's checksum of the copy against the source's, read now (one HEAD: copies in parts);
5. the copy read back and hashed, when the source has an MD5 or SHA-256 and nothing else
   compares;
6. otherwise (a source verified by size only) the size.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from jobs.models import JobObject
from sharing_project.s3.checksums import Digests, FullObjectChecksum
from sharing_project.s3.copy import Copied
from sharing_project.s3.uris import etag_md5


@dataclass(frozen=True)
class Proof:
    by: str  # "CRC32", "MD5", "SHA256", ... or "size"
    problem: str = ""  # "" when the copy is equal to its source


def prove(
    item: JobObject,
    copied: Copied,
    *,
    etag_is_md5: bool,
    source_checksum: Callable[[], FullObjectChecksum | None],
    read_copy: Callable[[], Digests],
) -> Proof:
    """Prove `copied` equal to `item`'s source; `source_checksum` and `read_copy` are asked
    only when nothing cheaper compares."""
    if copied.digests is not None:
        written = copied.checksum
        if written and written.algorithm == "CRC32" and written.value != copied.digests.crc32:
            return _compare("CRC32", copied.digests.crc32, written.value)
        return _by_digests(item, copied.digests) or Proof("size")
    recorded = _recorded(item)
    if copied.checksum and recorded and recorded.algorithm == copied.checksum.algorithm:
        return _compare(copied.checksum.algorithm, recorded.value, copied.checksum.value)
    copy_md5 = etag_md5(copied.etag) if etag_is_md5 else ""
    if item.md5 and copy_md5:
        proof = _compare("MD5", item.md5, copy_md5)
        if not proof.problem:
            return proof
        if copied.checksum is None:  # no CRC32 asked: the copy read back decides
            return _by_digests(item, read_copy()) or proof
    if copied.checksum is not None:
        source = source_checksum()
        if source is not None and source.algorithm == copied.checksum.algorithm:
            return _compare(source.algorithm, source.value, copied.checksum.value)
    if item.md5 or item.sha256:
        return _by_digests(item, read_copy())
    return Proof("size")


def _recorded(item: JobObject) -> FullObjectChecksum | None:
    algorithm, _, value = item.s3_checksum.partition(":")
    return FullObjectChecksum(algorithm, value) if value else None


def _by_digests(item: JobObject, digests: Digests) -> Proof | None:
    """The strongest of the source's checksums that the digests hold, compared."""
    recorded = _recorded(item)
    for algorithm, expected, actual in (
        ("SHA256", item.sha256, digests.sha256),
        ("MD5", item.md5, digests.md5),
        (
            "CRC32",
            recorded.value if recorded and recorded.algorithm == "CRC32" else "",
            digests.crc32,
        ),
    ):
        if expected:
            return _compare(algorithm, expected, actual)
    return None


def _compare(algorithm: str, source: str, copy: str) -> Proof:
    if source == copy:
        return Proof(algorithm)
    return Proof(
        algorithm,
        f"checksum mismatch: {algorithm} {copy} at the destination, {source} at the source",
    )
