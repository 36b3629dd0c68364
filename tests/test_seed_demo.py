"""`seed_demo`: a realistic catalogue whose every file really is in S3."""

from __future__ import annotations

from io import StringIO

import pytest
from django.conf import settings
from django.core.management import call_command

from catalogue.models import Fastq, Library, Project, WorkflowRun
from sharing_project.s3.objects import S3Object, get_object_bytes, list_objects
from sharing_project.s3.uris import parse_s3_uri

# Every test writes the demo's objects to S3 afresh: about a second each.
pytestmark = [pytest.mark.django_db, pytest.mark.e2e]


def objects_in_demo_bucket() -> dict[str, S3Object]:
    return {o.uri: o for o in list_objects(f"s3://{settings.DEMO_BUCKET}/")}


def test_demo_catalogue_has_the_shape_the_issue_asks_for(fresh_demo):
    assert Project.objects.count() >= 3
    tumours = Library.objects.filter(phenotype="tumor", type="WGS")
    normals = Library.objects.filter(phenotype="normal", type="WGS")
    assert tumours.count() == normals.count() >= 10
    for tumour in tumours:
        assert normals.filter(subject=tumour.subject).exists()
    assert Library.objects.count() >= 20
    runs = set(Fastq.objects.values_list("instrument_run_id", flat=True))
    assert len(runs) == 2
    for run in runs:
        assert Fastq.objects.filter(instrument_run_id=run).values("lane").distinct().count() > 1
    assert len({r.workflow_name for r in WorkflowRun.objects.all()}) >= 5
    assert Fastq.objects.filter(r1_storage_class="DEEP_ARCHIVE").count() == 1


def test_one_workflow_ran_twice_for_the_same_libraries(fresh_demo):
    seen: dict[tuple, list[str]] = {}
    for run in WorkflowRun.objects.filter(status="SUCCEEDED").prefetch_related("libraries"):
        key = (run.workflow_name, tuple(sorted(lib.library_id for lib in run.libraries.all())))
        seen.setdefault(key, []).append(run.portal_run_id)
    assert any(len(ids) == 2 for ids in seen.values())


def test_every_fastq_object_is_in_s3_with_the_catalogued_size_and_etag(fresh_demo):
    objects = objects_in_demo_bucket()
    for fastq in Fastq.objects.all():
        for uri, size, etag, storage in (
            (fastq.r1_uri, fastq.r1_size, fastq.r1_etag, fastq.r1_storage_class),
            (fastq.r2_uri, fastq.r2_size, fastq.r2_etag, fastq.r2_storage_class),
        ):
            stored = objects[uri]
            assert (stored.size, stored.etag, stored.storage_class) == (size, etag, storage)


def test_archived_fastq_cannot_be_read_until_restored(fresh_demo, s3):
    archived = Fastq.objects.get(r1_storage_class="DEEP_ARCHIVE")
    target = parse_s3_uri(archived.r1_uri)
    with pytest.raises(s3.exceptions.InvalidObjectState):
        s3.get_object(Bucket=target.bucket, Key=target.key)


def test_every_workflow_run_has_outputs_including_awkward_names(fresh_demo):
    objects = objects_in_demo_bucket()
    for run in WorkflowRun.objects.all():
        outputs = [uri for uri in objects if uri.startswith(run.output_uri)]
        assert len(outputs) >= 3, run.portal_run_id
    keys = [o.key for o in objects.values()]
    assert any(" " in key for key in keys)
    assert any(not key.isascii() for key in keys)


def test_fastq_objects_are_real_gzip_fastq(fresh_demo):
    import gzip

    fastq = Fastq.objects.exclude(r1_storage_class="DEEP_ARCHIVE").first()
    text = gzip.decompress(get_object_bytes(fastq.r1_uri)).decode()
    lines = text.splitlines()
    assert lines[0].startswith("@")
    assert lines[2] == "+"
    assert len(lines[1]) == len(lines[3])


def test_seeding_twice_changes_nothing(s3):
    out = StringIO()
    call_command("seed_demo", stdout=out)
    first = list(Fastq.objects.values().order_by("pk"))
    out = StringIO()
    call_command("seed_demo", stdout=out)
    assert list(Fastq.objects.values().order_by("pk")) == first
    assert "created" in out.getvalue()
    for line in out.getvalue().splitlines()[:3]:
        assert "0 created, 0 updated" in line
    assert "Recipient demo-collaborator: kept." in out.getvalue()
