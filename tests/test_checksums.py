"""Every object of a manifest gets a content checksum, whatever its upload, and says which:
an MD5 ETag, the catalogue's, S3's full-object checksum, one the service computed by reading
it (cached), or none (size only, with the reason)."""

from __future__ import annotations

import hashlib

import pytest
from django.db.models.signals import post_save

from catalogue.models import Fastq, ObjectChecksum, WorkflowRun
from jobs.models import JobLogLine, JobObject
from shares.checksums import ChecksumSource, find_checksums
from shares.resolve import ManifestEntry
from sharing_project.s3.client import client
from sharing_project.s3.objects import head_object, put_object
from sharing_project.s3.uris import parse_s3_uri

pytestmark = pytest.mark.django_db

MIB = 1024 * 1024


def put_in_parts(uri: str, body: bytes, *, full_object_crc32: bool = False) -> str:
    """Write an object in 5 MiB parts, as real fastq and BAM files are; returns its ETag."""
    target = parse_s3_uri(uri)
    extra = {"ChecksumAlgorithm": "CRC32", "ChecksumType": "FULL_OBJECT"}
    s3 = client()
    upload = s3.create_multipart_upload(
        Bucket=target.bucket, Key=target.key, **(extra if full_object_crc32 else {})
    )
    parts = []
    for number, start in enumerate(range(0, len(body), 5 * MIB), 1):
        part = s3.upload_part(
            Bucket=target.bucket,
            Key=target.key,
            UploadId=upload["UploadId"],
            PartNumber=number,
            Body=body[start : start + 5 * MIB],
        )
        parts.append({"PartNumber": number, "ETag": part["ETag"]})
    s3.complete_multipart_upload(
        Bucket=target.bucket,
        Key=target.key,
        UploadId=upload["UploadId"],
        MultipartUpload={"Parts": parts},
    )
    return head_object(uri).etag


def entry_for(uri: str, **fields) -> ManifestEntry:
    live = head_object(uri)
    return ManifestEntry(
        kind="secondary",
        source_uri=uri,
        relative_path=uri.rsplit("/", 1)[-1],
        size=live.size,
        etag=live.etag,
        storage_class="STANDARD",
        **fields,
    )


@pytest.fixture
def bucket(s3) -> str:
    s3.create_bucket(
        Bucket="checksum-test", CreateBucketConfiguration={"LocationConstraint": "ap-southeast-2"}
    )
    return "s3://checksum-test/"


BODY = bytes(range(256)) * (24 * 1024)  # 6 MiB: two parts


def test_a_single_part_object_is_verified_by_its_md5_etag(bucket):
    put_object(bucket + "one.txt", b"one request")
    (entry,) = find_checksums([entry_for(bucket + "one.txt")], for_download=True)
    assert entry.checksum_source == ChecksumSource.MD5_ETAG
    assert entry.md5 == hashlib.md5(b"one request").hexdigest()


def test_an_object_in_parts_uses_the_catalogues_sha256(bucket, settings):
    settings.CHECKSUM_READ_OBJECTS = False
    put_in_parts(bucket + "reads.fastq.gz", BODY)
    sha256 = hashlib.sha256(BODY).hexdigest()
    (entry,) = find_checksums(
        [entry_for(bucket + "reads.fastq.gz", sha256=sha256)], for_download=True
    )
    assert entry.checksum_source == ChecksumSource.CATALOGUE
    assert entry.sha256 == sha256


def test_an_object_in_parts_with_a_full_object_crc32_is_verified_by_it_in_s3(bucket, settings):
    settings.CHECKSUM_READ_OBJECTS = False
    put_in_parts(bucket + "aligned.bam", BODY, full_object_crc32=True)
    (entry,) = find_checksums([entry_for(bucket + "aligned.bam")], for_download=False)
    assert entry.checksum_source == ChecksumSource.FULL_OBJECT
    assert entry.s3_checksum.startswith("CRC32:")


def test_a_download_needs_a_checksum_the_script_can_check_so_a_crc_is_computed_over(bucket):
    put_in_parts(bucket + "aligned.bam", BODY, full_object_crc32=True)
    (entry,) = find_checksums([entry_for(bucket + "aligned.bam")], for_download=True)
    assert entry.checksum_source == ChecksumSource.COMPUTED
    assert entry.sha256 == hashlib.sha256(BODY).hexdigest()


def test_an_object_in_parts_with_no_checksum_is_read_once_and_cached(bucket, settings):
    etag = put_in_parts(bucket + "plain.bin", BODY)
    entry = entry_for(bucket + "plain.bin")
    (first,) = find_checksums([entry], for_download=False)
    assert first.checksum_source == ChecksumSource.COMPUTED
    assert (first.md5, first.sha256) == (
        hashlib.md5(BODY).hexdigest(),
        hashlib.sha256(BODY).hexdigest(),
    )
    cached = ObjectChecksum.objects.get()
    assert (cached.uri, cached.etag, cached.size) == (entry.source_uri, etag, len(BODY))
    # Not read again: with reading forbidden, the cache still answers.
    settings.CHECKSUM_READ_OBJECTS = False
    (again,) = find_checksums([entry], for_download=False)
    assert again.checksum_source == ChecksumSource.COMPUTED
    assert again.sha256 == first.sha256


def test_a_replaced_object_misses_the_cache_and_is_read_again(bucket):
    put_in_parts(bucket + "plain.bin", BODY)
    find_checksums([entry_for(bucket + "plain.bin")], for_download=False)
    changed = BODY[:-1] + b"!"
    put_in_parts(bucket + "plain.bin", changed)
    (entry,) = find_checksums([entry_for(bucket + "plain.bin")], for_download=False)
    assert entry.sha256 == hashlib.sha256(changed).hexdigest()
    assert ObjectChecksum.objects.count() == 2


def test_without_permission_to_read_an_object_is_size_only_and_says_why(bucket, settings):
    settings.CHECKSUM_READ_OBJECTS = False
    put_in_parts(bucket + "plain.bin", BODY)
    (entry,) = find_checksums([entry_for(bucket + "plain.bin")], for_download=False)
    assert entry.checksum_source == ChecksumSource.SIZE_ONLY
    assert (entry.md5, entry.sha256, entry.s3_checksum) == ("", "", "")
    assert "CHECKSUM_READ_OBJECTS is off" in entry.checksum_note


# --- through a dry run ----------------------------------------------------------------------


@pytest.fixture
def run_with_a_multipart_output(fresh_demo) -> WorkflowRun:
    """A demo workflow run one of whose outputs was uploaded in parts."""
    run = WorkflowRun.objects.filter(workflow_name="umccrise").order_by("portal_run_id").first()
    put_in_parts(run.output_uri + "big/tumor.bam", BODY)
    return run


def test_a_dry_run_reports_how_each_object_is_verified(
    run_with_a_multipart_output, launch, operator_client
):
    run = run_with_a_multipart_output
    response = launch(
        portalRunIdList=[run.portal_run_id],
        dataTypeList=["SecondaryAnalysis"],
        shareType="push",
        shareDestination="s3://collaborator-bucket/x/",
        dryrun=True,
    )
    job = operator_client.get(response.json()["url"]).json()
    assert job["status"] == "SUCCEEDED", job["error"]
    by_source = {row["checksumSource"]: row for row in job["verification"]}
    assert by_source["computed"]["objects"] == 1
    assert by_source["computed"]["bytes"] == len(BODY)
    assert by_source["md5-etag"]["objects"] == job["progress"]["objectsTotal"] - 1
    assert any(line["message"].startswith("Checksums: ") for line in job["log"])
    objects = operator_client.get(f"{job['url']}/objects?checksumSource=computed").json()
    (big,) = objects["results"]
    assert big["relativePath"].endswith("big/tumor.bam")
    assert big["sha256"] == hashlib.sha256(BODY).hexdigest()
    assert big["md5"] == hashlib.md5(BODY).hexdigest()
    assert big["s3Checksum"].startswith("CRC32:")


def test_a_dry_run_that_may_not_read_warns_of_the_size_only_objects(
    run_with_a_multipart_output, launch, operator_client, settings
):
    settings.CHECKSUM_READ_OBJECTS = False
    run = run_with_a_multipart_output
    response = launch(
        portalRunIdList=[run.portal_run_id],
        dataTypeList=["SecondaryAnalysis"],
        shareType="pull",
        dryrun=True,
    )
    job = operator_client.get(response.json()["url"]).json()
    assert job["status"] == "SUCCEEDED", job["error"]
    (warning,) = [w for w in job["warnings"] if "size only" in w]
    assert "1 object(s) will be verified by size only" in warning
    assert "big/tumor.bam" in warning
    assert "CHECKSUM_READ_OBJECTS is off" in warning
    size_only = JobObject.objects.get(job_id=job["id"], checksum_source="size-only")
    assert size_only.relative_path.endswith("big/tumor.bam")


def test_an_abort_stops_the_reading(run_with_a_multipart_output, launch, operator_client):
    """An operator aborts as the dry run starts reading objects: it ends ABORTED, unread."""
    run = run_with_a_multipart_output

    def abort_when_reading_starts(sender, instance: JobLogLine, created, **kwargs):
        if created and instance.message.startswith("Reading"):
            operator_client.post(f"/api/v1/jobs/{instance.job_id}/abort")

    post_save.connect(abort_when_reading_starts, sender=JobLogLine, dispatch_uid="abort-read")
    try:
        response = launch(
            portalRunIdList=[run.portal_run_id],
            dataTypeList=["SecondaryAnalysis"],
            shareType="pull",
            dryrun=True,
        )
    finally:
        post_save.disconnect(sender=JobLogLine, dispatch_uid="abort-read")
    job = operator_client.get(response.json()["url"]).json()
    assert job["status"] == "ABORTED"
    assert not ObjectChecksum.objects.exists()
    assert not JobObject.objects.filter(job_id=job["id"]).exists()


def test_the_catalogues_checksums_are_dropped_when_the_object_was_replaced(fresh_demo):
    from shares.resolve import resolve

    fastq = Fastq.objects.order_by("pk").first()
    sha256 = hashlib.sha256(b"whatever").hexdigest()
    Fastq.objects.filter(pk=fastq.pk).update(r1_sha256=sha256, r2_sha256=sha256)
    put_object(fastq.r1_uri, b"replaced since the import")
    config = {
        "libraryIdList": [fastq.library.library_id],
        "instrumentRunIdList": [fastq.instrument_run_id],
        "dataTypeList": ["Fastq"],
    }
    by_uri = {entry.source_uri: entry for entry in resolve(config)}
    assert by_uri[fastq.r1_uri].sha256 == ""  # the catalogue's was of the old bytes
    assert by_uri[fastq.r2_uri].sha256 == sha256


def test_a_read_asked_to_stop_stops_between_chunks(bucket):
    from sharing_project.errors import JobAborted
    from sharing_project.s3.checksums import READ_CHUNK, hash_object

    put_object(bucket + "large.bin", b"z" * (3 * READ_CHUNK))
    asked = []

    def stop_after_the_first_chunk() -> bool:
        asked.append(True)
        return True

    with pytest.raises(JobAborted):
        hash_object(bucket + "large.bin", should_stop=stop_after_the_first_chunk)
    assert len(asked) == 1  # one chunk read of three
    digests = hash_object(bucket + "large.bin")
    assert digests.size == 3 * READ_CHUNK
    assert digests.md5 == hashlib.md5(b"z" * (3 * READ_CHUNK)).hexdigest()
