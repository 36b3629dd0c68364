"""What an object's content checksum is, and of which kind: the one place that decides.

For each object of a manifest, in this order (the first that gives one is the reference):

1. its ETag, when the object was written in one request: that is the MD5 of its bytes;
2. the catalogue, when the fastq manager published an MD5 or SHA-256 of it;
3. the service's own cache of checksums it computed (keyed by URI, ETag and size);
4. S3's full-object checksum (CRC64NVME, CRC32C, CRC32, or SHA-256/SHA-1 of a single-part
   object), read with one HEAD in checksum mode: usable to prove a copy in S3, not by the
   collaborator's download script (coreutils has no such CRC);
5. computed by reading the object once as a stream (MD5, SHA-256 and CRC32, kept in the
   cache), when CHECKSUM_READ_OBJECTS allows it;
6. none: the object is verified by size only, and the entry says why.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import replace
from typing import TYPE_CHECKING, Protocol

from django.conf import settings
from django.db import models

from catalogue.models import ObjectChecksum
from shares.resolve import ManifestEntry
from sharing_project.errors import JobAborted
from sharing_project.s3.uris import etag_md5

if TYPE_CHECKING:  # the S3 modules load boto3, which models must not
    from sharing_project.s3.checksums import Digests


class ChecksumSource(models.TextChoices):
    MD5_ETAG = "md5-etag", "MD5 ETag"
    CATALOGUE = "catalogue", "catalogue"
    FULL_OBJECT = "full-object", "S3 full-object checksum"
    COMPUTED = "computed", "computed by the service"
    SIZE_ONLY = "size-only", "size only"


_HEAD_THREADS = 8
NO_READING = (
    "no MD5 ETag, no checksum in the catalogue or in S3, and CHECKSUM_READ_OBJECTS is off, so "
    "the service may not read it to compute one"
)


class Reading(Protocol):
    """Who is told of the objects read: `start` once, before the first read, with their count
    and bytes; `read` after each batch read; `should_stop` is asked every half second while reading
    (True stops the reads with JobAborted). All are called from the caller's thread."""

    def start(self, count: int, size: int) -> None: ...

    def read(self, entries: list[ManifestEntry]) -> None: ...

    def should_stop(self) -> bool: ...


def find_checksums(
    entries: list[ManifestEntry], *, for_download: bool, reading: Reading | None = None
) -> list[ManifestEntry]:
    """The entries with their checksums and source. `for_download`: the checksum must be one
    the download script can check (an MD5 or SHA-256), so S3's CRCs do not count. Objects are
    read in parallel threads (CHECKSUM_THREADS)."""
    entries = [_known(entry) for entry in entries]
    missing = [i for i, entry in enumerate(entries) if not entry.checksum_source]
    _from_cache(entries, missing)
    missing = [i for i in missing if not entries[i].checksum_source]
    if not for_download:
        _from_s3(entries, missing)
        missing = [i for i in missing if not entries[i].checksum_source]
    if settings.CHECKSUM_READ_OBJECTS:
        _computed(entries, missing, reading)
    else:
        for i in missing:
            entries[i] = replace(
                entries[i], checksum_source=ChecksumSource.SIZE_ONLY, checksum_note=NO_READING
            )
    return entries


def _known(entry: ManifestEntry) -> ManifestEntry:
    md5 = etag_md5(entry.etag)
    if md5:
        return replace(entry, md5=md5, checksum_source=ChecksumSource.MD5_ETAG)
    if entry.md5 or entry.sha256:
        return replace(entry, checksum_source=ChecksumSource.CATALOGUE)
    return entry


def _cache_key(entry: ManifestEntry) -> str:
    return ObjectChecksum.key_of(entry.source_uri, entry.etag, entry.size)


def _cached(keys: set[str]) -> dict[str, ObjectChecksum]:
    found: dict[str, ObjectChecksum] = {}
    ordered = sorted(keys)
    for start in range(0, len(ordered), 1000):
        rows = ObjectChecksum.objects.filter(key__in=ordered[start : start + 1000])
        found.update({row.key: row for row in rows})
    return found


def _from_cache(entries: list[ManifestEntry], indexes: list[int]) -> None:
    cached = _cached({_cache_key(entries[i]) for i in indexes})
    for i in indexes:
        row = cached.get(_cache_key(entries[i]))
        if row is not None:
            entries[i] = _with_digests(entries[i], row.md5, row.sha256, row.crc32)


def _with_digests(entry: ManifestEntry, md5: str, sha256: str, crc32: str) -> ManifestEntry:
    return replace(
        entry,
        md5=md5,
        sha256=sha256,
        s3_checksum=f"CRC32:{crc32}",
        checksum_source=ChecksumSource.COMPUTED,
    )


def _from_s3(entries: list[ManifestEntry], indexes: list[int]) -> None:
    from sharing_project.s3.checksums import full_object_checksum

    with ThreadPoolExecutor(max_workers=_HEAD_THREADS) as pool:
        found = pool.map(lambda i: full_object_checksum(entries[i].source_uri), indexes)
        for i, checksum in zip(indexes, found, strict=True):
            if checksum is not None:
                entries[i] = replace(
                    entries[i],
                    s3_checksum=str(checksum),
                    checksum_source=ChecksumSource.FULL_OBJECT,
                )


def _computed(entries: list[ManifestEntry], indexes: list[int], reading: Reading | None) -> None:
    """Read each object once, in parallel threads that only talk to S3; this thread keeps
    what they compute in the cache, reports progress and, every half second, asks whether
    to stop (the threads then stop between chunks and the rest are not started)."""
    from sharing_project.s3.checksums import hash_object

    if not indexes:
        return
    if reading is not None:
        reading.start(len(indexes), sum(entries[i].size for i in indexes))
        if reading.should_stop():
            raise JobAborted("stopped before reading objects for their checksums")
    stop = threading.Event()
    asked_at = time.monotonic()
    with ThreadPoolExecutor(max_workers=settings.CHECKSUM_THREADS) as pool:
        futures = {
            pool.submit(hash_object, entries[i].source_uri, should_stop=stop.is_set): i
            for i in indexes
        }
        pending = set(futures)
        while pending:
            done, pending = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
            if reading is not None and time.monotonic() - asked_at >= 0.5:
                asked_at = time.monotonic()
                if reading.should_stop():
                    stop.set()
                    for future in pending:
                        future.cancel()
            _keep(entries, {futures[future]: future.result() for future in done}, reading)
    if stop.is_set():
        raise JobAborted("stopped while reading objects for their checksums")


def _keep(entries: list[ManifestEntry], read: dict[int, Digests], reading: Reading | None) -> None:
    """Record what was read: one insert into the cache, one progress report."""
    if not read:
        return
    ObjectChecksum.objects.bulk_create(
        [
            ObjectChecksum(
                key=_cache_key(entries[i]),
                uri=entries[i].source_uri,
                etag=entries[i].etag,
                size=entries[i].size,
                md5=digests.md5,
                sha256=digests.sha256,
                crc32=digests.crc32,
            )
            for i, digests in read.items()
        ],
        ignore_conflicts=True,
    )
    for i, digests in read.items():
        entries[i] = _with_digests(entries[i], digests.md5, digests.sha256, digests.crc32)
    if reading is not None:
        reading.read([entries[i] for i in read])
