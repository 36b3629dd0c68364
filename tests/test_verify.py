"""jobs.verify.prove: which comparison decides, and that a copy is never called equal by size
alone while a checksum of its source is known."""

from __future__ import annotations

import pytest

from jobs.models import JobObject
from jobs.verify import prove
from sharing_project.s3.checksums import Digests, FullObjectChecksum
from sharing_project.s3.copy import Copied

MD5 = "0" * 32
OTHER_MD5 = "1" * 32
CRC = FullObjectChecksum("CRC32", "AAAAAA==")
OTHER_CRC = FullObjectChecksum("CRC32", "BBBBBB==")


def source(**fields) -> JobObject:
    return JobObject(etag=fields.pop("etag", MD5), size=4, **fields)


def never():
    raise AssertionError("asked for something it should not need")


def proof(item: JobObject, copied: Copied, *, source_checksum=never, read_copy=never):
    return prove(
        item, copied, etag_is_md5=True, source_checksum=source_checksum, read_copy=read_copy
    )


def test_the_copys_etag_proves_a_single_part_copy_without_another_request():
    assert proof(source(md5=MD5), Copied(MD5, CRC)).by == "MD5"


def test_an_etag_that_differs_is_confirmed_by_s3s_checksums_before_the_copy_is_called_bad():
    """A destination encrypting with KMS gives ETags that are not MD5s: the CRC32s decide."""
    kms = proof(source(md5=MD5), Copied(OTHER_MD5, CRC), source_checksum=lambda: CRC)
    assert (kms.by, kms.problem) == ("CRC32", "")
    bad = proof(source(md5=MD5), Copied(OTHER_MD5, OTHER_CRC), source_checksum=lambda: CRC)
    assert bad.problem.startswith("checksum mismatch: CRC32 BBBBBB== at the destination")


def test_an_etag_that_differs_from_a_copy_without_a_crc_is_confirmed_by_reading_it():
    item = source(md5=MD5)
    same = Digests(md5=MD5, sha256="", crc32="", size=4)
    kms = proof(item, Copied(OTHER_MD5), read_copy=lambda: same)
    assert (kms.by, kms.problem) == ("MD5", "")
    other = Digests(md5=OTHER_MD5, sha256="", crc32="", size=4)
    assert proof(item, Copied(OTHER_MD5), read_copy=lambda: other).problem.startswith(
        "checksum mismatch: MD5 "
    )


def test_a_recorded_full_object_checksum_is_compared_with_the_copys():
    item = source(etag=MD5 + "-3", s3_checksum="CRC32:AAAAAA==")
    assert proof(item, Copied(OTHER_MD5 + "-3", CRC)).by == "CRC32"
    assert proof(item, Copied(OTHER_MD5 + "-3", OTHER_CRC)).problem


def test_with_nothing_else_comparable_the_copy_is_read_back():
    item = source(etag=MD5 + "-3", sha256="a" * 64)
    same = Digests(md5=OTHER_MD5, sha256="a" * 64, crc32="x", size=4)
    other = Digests(md5=OTHER_MD5, sha256="b" * 64, crc32="x", size=4)
    kwargs = {"source_checksum": lambda: None}
    assert (
        proof(item, Copied(OTHER_MD5 + "-3", CRC), read_copy=lambda: same, **kwargs).by == "SHA256"
    )
    assert proof(item, Copied(OTHER_MD5 + "-3", CRC), read_copy=lambda: other, **kwargs).problem


@pytest.mark.parametrize("copied", [Copied(OTHER_MD5 + "-3", CRC), Copied(OTHER_MD5 + "-3")])
def test_only_a_source_with_no_checksum_is_verified_by_size(copied):
    assert proof(source(etag=MD5 + "-3"), copied, source_checksum=lambda: None).by == "size"


def test_a_streamed_copy_compares_the_digests_of_the_bytes_read():
    digests = Digests(md5=MD5, sha256="a" * 64, crc32="AAAAAA==", size=4)
    assert (
        proof(source(md5=MD5, sha256="a" * 64), Copied("kms-etag", digests=digests)).by == "SHA256"
    )
    assert proof(source(md5=OTHER_MD5), Copied("kms-etag", digests=digests)).problem


def test_a_streamed_copy_whose_crc32_differs_from_the_bytes_read_is_a_mismatch():
    """The storage's CRC32 of what it wrote is compared with the CRC32 of what was read."""
    digests = Digests(md5=MD5, sha256="a" * 64, crc32=CRC.value, size=4)
    item = source(md5=MD5, sha256="a" * 64)
    assert proof(item, Copied("kms-etag", CRC, digests)).by == "SHA256"
    bad = proof(item, Copied("kms-etag", OTHER_CRC, digests))
    assert bad.problem == (
        "checksum mismatch: CRC32 BBBBBB== at the destination, AAAAAA== at the source"
    )
