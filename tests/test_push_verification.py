"""Every copy a push makes is proven equal to its source by a checksum, and a copy that differs
by one byte is caught, named, and only it is marked bad; a destination object with other
bytes of the same size is copied again."""

from __future__ import annotations

import hashlib

import pytest

from catalogue.models import WorkflowRun
from jobs.models import Job, JobObject
from sharing_project.s3.objects import ensure_bucket, get_object_bytes, list_objects, put_object
from tests.support.fault_proxy import FaultProxy
from tests.test_checksums import BODY, put_in_parts

pytestmark = [pytest.mark.django_db, pytest.mark.e2e]  # copies through S3: seconds

DESTINATION = "s3://collaborator-bucket/verified/"


@pytest.fixture
def run(fresh_demo) -> WorkflowRun:
    """A demo run with, besides its small single-part outputs, one uploaded in parts."""
    ensure_bucket("collaborator-bucket")
    run = WorkflowRun.objects.filter(workflow_name="umccrise").order_by("portal_run_id").first()
    put_in_parts(run.output_uri + "big/tumor.bam", BODY)
    return run


@pytest.fixture
def push_run(launch, operator_client, run):
    """Dry-run then push the run to DESTINATION; returns the push's body."""
    payload = {
        "portalRunIdList": [run.portal_run_id],
        "dataTypeList": ["SecondaryAnalysis"],
        "shareType": "push",
        "shareDestination": DESTINATION,
    }

    def push() -> dict:
        dry = launch(**payload, dryrun=True)
        assert operator_client.get(dry.json()["url"]).json()["status"] == "SUCCEEDED"
        return operator_client.get(launch(**payload).json()["url"]).json()

    return push


def summary_of(run: WorkflowRun) -> str:
    """The URI of the run's small single-part summary table."""
    (uri,) = [o.uri for o in list_objects(run.output_uri) if o.key.endswith(".summary.tsv")]
    return uri


def objects_of(job: dict) -> dict[str, JobObject]:
    return {
        o.relative_path.rsplit("/", 1)[-1]: o for o in JobObject.objects.filter(job_id=job["id"])
    }


def test_every_copy_is_verified_by_a_checksum(push_run, run):
    job = push_run()
    assert job["status"] == "SUCCEEDED", job["error"]
    objects = objects_of(job)
    big = objects.pop("tumor.bam")
    assert big.checksum_source == "computed"
    # One CopyObject each: the copy's ETag is its MD5, against the ETag's or the computed one.
    assert {o.verified_by for o in [big, *objects.values()]} == {"MD5"}
    for item in [big, *objects.values()]:
        assert get_object_bytes(item.destination_uri) == get_object_bytes(item.source_uri)


def test_the_checksum_lists_are_written_beside_lims_csv(push_run):
    job = push_run()
    assert job["status"] == "SUCCEEDED", job["error"]
    objects = JobObject.objects.filter(job_id=job["id"]).order_by("position")
    md5_list = get_object_bytes(DESTINATION + "checksums.md5").decode()
    assert md5_list == "".join(f"{o.md5}  {o.relative_path}\n" for o in objects)
    sha256_list = get_object_bytes(DESTINATION + "checksums.sha256").decode()
    (big,) = [o for o in objects if o.sha256]  # only the computed one has a SHA-256
    assert sha256_list == f"{big.sha256}  {big.relative_path}\n"
    assert hashlib.sha256(get_object_bytes(big.destination_uri)).hexdigest() == big.sha256


def test_a_copy_in_parts_of_a_single_part_object_is_verified_by_s3s_crc32(push_run, run, settings):
    put_object(run.output_uri + "big/normal.bam", BODY)  # one request: an MD5 ETag
    settings.PUSH_MULTIPART_THRESHOLD = 5 * 1024 * 1024
    settings.PUSH_PART_SIZE = 5 * 1024 * 1024
    job = push_run()
    assert job["status"] == "SUCCEEDED", job["error"]
    normal = objects_of(job)["normal.bam"]
    assert normal.checksum_source == "md5-etag"
    assert normal.destination_etag.endswith("-2")  # copied in two parts: not an MD5
    assert normal.verified_by == "CRC32"  # against the source's, read with one HEAD


def proxied_push(push_run, s3_endpoint, settings, **corruption) -> tuple[dict, FaultProxy]:
    """The push with every S3 call of the service through a proxy that corrupts data."""
    proxy = FaultProxy(s3_endpoint, **corruption).start()
    try:
        settings.AWS_ENDPOINT_URL = proxy.endpoint
        job = push_run()
    finally:
        proxy.stop()
        settings.AWS_ENDPOINT_URL = s3_endpoint
    return job, proxy


def decoy_of(uri: str) -> tuple[str, str]:
    """(bucket/key of `uri`, bucket/key of a decoy: the same bytes with the first flipped)."""
    body = get_object_bytes(uri)
    put_object(uri + ".decoy", bytes([body[0] ^ 1]) + body[1:])
    key = uri.removeprefix("s3://")
    return key, key + ".decoy"


def assert_only_it_failed(job: dict, name: str, algorithm: str) -> None:
    assert job["status"] == "FAILED"
    assert job["error"]["type"] == "CopyFailed"
    (failed,) = job["error"]["details"]["objects"]
    assert failed["relative_path"].endswith(name)
    assert failed["error"].startswith(f"checksum mismatch: {algorithm} ")
    others = JobObject.objects.filter(job_id=job["id"]).exclude(
        relative_path=failed["relative_path"]
    )
    assert set(others.values_list("status", flat=True)) == {"COPIED"}


def test_a_single_part_copy_with_one_byte_flipped_is_caught_by_name(
    push_run, run, s3_endpoint, settings
):
    source, decoy = decoy_of(summary_of(run))
    job, proxy = proxied_push(push_run, s3_endpoint, settings, swap_copy_source={source: decoy})
    assert proxy.corrupted == 1
    # Its ETag differed from the source's MD5; the CRC32 S3 keeps with the copied bytes (the
    # decoy was written with one) confirmed the difference.
    assert_only_it_failed(job, ".summary.tsv", "CRC32")


def test_a_copy_in_parts_with_one_byte_flipped_is_caught_by_name(
    push_run, run, s3_endpoint, settings
):
    settings.PUSH_MULTIPART_THRESHOLD = 5 * 1024 * 1024
    settings.PUSH_PART_SIZE = 5 * 1024 * 1024
    source, decoy = decoy_of(run.output_uri + "big/tumor.bam")
    job, proxy = proxied_push(push_run, s3_endpoint, settings, swap_copy_source={source: decoy})
    assert proxy.corrupted == 2  # both parts were copied from the decoy; the first differs
    assert_only_it_failed(job, "tumor.bam", "CRC32")


def test_an_object_replaced_at_the_destination_by_other_bytes_of_its_size_is_copied_again(
    push_run, run
):
    first = push_run()
    assert first["status"] == "SUCCEEDED", first["error"]
    name = summary_of(run).rsplit("/", 1)[-1]
    summary = objects_of(first)[name]
    original = get_object_bytes(summary.source_uri)
    put_object(summary.destination_uri, bytes([original[0] ^ 1]) + original[1:])
    again = push_run()
    assert again["status"] == "SUCCEEDED", again["error"]
    statuses = {name: o.status for name, o in objects_of(again).items()}
    assert statuses.pop(name) == "COPIED"
    assert set(statuses.values()) == {"SKIPPED"}
    assert get_object_bytes(summary.destination_uri) == original
    assert Job.objects.get(pk=again["id"]).objects_done == len(objects_of(again))
