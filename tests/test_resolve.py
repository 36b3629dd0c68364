"""Resolution of a configuration into the manifest of objects, against the demo catalogue and
real S3 listings."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext

from catalogue.demo import ARCHIVED_LIBRARY, RUN_A, RUN_B
from catalogue.models import Fastq, Library, WorkflowRun
from shares.resolve import resolve, unsafe_reason
from shares.validation import LaunchSerializer
from sharing_project.errors import MissingSourceObjects, UnsafeObjectKey
from sharing_project.s3.objects import (
    delete_object,
    ensure_bucket,
    head_object,
    list_objects,
    put_object,
)
from sharing_project.s3.uris import parse_s3_uri

pytestmark = pytest.mark.django_db


def config(**values) -> dict:
    base = {
        "instrumentRunIdList": [],
        "libraryIdList": [],
        "subjectIdList": [],
        "individualIdList": [],
        "projectIdList": [],
        "dataTypeList": ["Fastq"],
        "defrostArchivedFastqs": False,
        "secondaryAnalysisWorkflowList": [],
        "portalRunIdList": [],
        "portalRunIdExclusionList": [],
        "shareType": "pull",
        "shareDestination": "",
    }
    return base | values


def fastq_rows(manifest) -> set[tuple[str, str, int]]:
    return {(e.library_id, e.instrument_run_id, e.lane) for e in manifest if e.kind == "fastq"}


def libraries_of(manifest) -> set[str]:
    return {e.library_id for e in manifest if e.kind == "fastq"}


def portal_runs(manifest) -> set[str]:
    return {e.portal_run_id for e in manifest if e.kind == "secondary"}


def successful_runs(**lookups) -> set[str]:
    runs = WorkflowRun.objects.filter(status="SUCCEEDED", **lookups)
    return set(runs.values_list("portal_run_id", flat=True))


def test_library_fastqs_share_r1_and_r2_at_the_design_layout(demo):
    manifest = resolve(config(libraryIdList=["L2400001"]))
    fastq = Fastq.objects.get(library__library_id="L2400001", instrument_run_id=RUN_A)
    entries = {e.source_uri: e for e in manifest}
    r1 = entries[fastq.r1_uri]
    assert r1.relative_path == f"fastq/{RUN_A}/Lane_1/L2400001/L2400001_S1_L001_R1_001.fastq.gz"
    assert (r1.size, r1.etag, r1.storage_class) == (fastq.r1_size, fastq.r1_etag, "STANDARD")
    assert entries[fastq.r2_uri].relative_path.endswith("L2400001_S1_L001_R2_001.fastq.gz")
    assert fastq_rows(manifest) == {("L2400001", RUN_A, 1), ("L2400001", RUN_B, 4)}
    assert len(manifest) == 4


def test_subject_individual_and_project_expand_to_their_libraries(demo):
    by_subject = resolve(config(subjectIdList=["SN_PMCC-0002"]))
    by_individual = resolve(config(individualIdList=["SBJ00002"]))
    assert (
        libraries_of(by_subject)
        == libraries_of(by_individual)
        == {
            "L2400003",
            "L2400004",
            "L2400022",
        }
    )
    by_project = resolve(config(projectIdList=["BPOP"]))
    expected = set(
        Library.objects.filter(projects__project_id="BPOP").values_list("library_id", flat=True)
    )
    assert libraries_of(by_project) == expected


def test_instrument_run_alone_shares_every_fastq_of_the_run(demo):
    manifest = resolve(config(instrumentRunIdList=[RUN_B]))
    expected = {
        (f.library.library_id, f.instrument_run_id, f.lane)
        for f in Fastq.objects.filter(instrument_run_id=RUN_B).select_related("library")
    }
    assert fastq_rows(manifest) == expected


def test_instrument_runs_intersect_with_the_metadata_selection(demo):
    manifest = resolve(config(projectIdList=["CUP"], instrumentRunIdList=[RUN_B]))
    assert fastq_rows(manifest) == {("L2400001", RUN_B, 4), ("L2400003", RUN_B, 4)} | {
        (f"L24000{n}", RUN_B, f.lane)
        for n in (21, 22, 23, 24)
        for f in Fastq.objects.filter(library__library_id=f"L24000{n}")
    }


def test_secondary_runs_of_the_libraries_only_successful_ones(demo):
    manifest = resolve(config(libraryIdList=["L2400017"], dataTypeList=["SecondaryAnalysis"]))
    assert portal_runs(manifest) == successful_runs(libraries__library_id="L2400017")
    failed = WorkflowRun.objects.get(status="FAILED").portal_run_id
    assert failed not in portal_runs(manifest)


def test_workflow_list_narrows_the_runs(demo):
    manifest = resolve(
        config(
            projectIdList=["CUP"],
            dataTypeList=["SecondaryAnalysis"],
            secondaryAnalysisWorkflowList=["umccrise", "wts"],
        )
    )
    runs = WorkflowRun.objects.filter(portal_run_id__in=portal_runs(manifest))
    assert set(runs.values_list("workflow_name", flat=True)) == {"umccrise", "wts"}
    assert portal_runs(manifest) == successful_runs(
        libraries__projects__project_id="CUP", workflow_name__in=["umccrise", "wts"]
    )


def test_portal_run_list_takes_precedence(demo):
    chosen = sorted(successful_runs(workflow_name="rnasum"))[:1]
    manifest = resolve(
        config(
            libraryIdList=["L2400001"],
            dataTypeList=["Fastq", "SecondaryAnalysis"],
            secondaryAnalysisWorkflowList=["umccrise"],
            portalRunIdList=chosen,
        )
    )
    assert portal_runs(manifest) == set(chosen)
    assert libraries_of(manifest) == {"L2400001"}


def test_exclusion_list_removes_runs(demo):
    repeated = sorted(
        successful_runs(workflow_name="tumor-normal", libraries__library_id="L2400001")
    )
    manifest = resolve(
        config(
            libraryIdList=["L2400001"],
            dataTypeList=["SecondaryAnalysis"],
            portalRunIdExclusionList=repeated[:1],
        )
    )
    assert repeated[0] not in portal_runs(manifest)
    assert repeated[1] in portal_runs(manifest)


def test_secondary_paths_keep_the_layout_below_the_output_prefix(demo):
    run = WorkflowRun.objects.filter(workflow_name="umccrise").first()
    manifest = resolve(
        config(portalRunIdList=[run.portal_run_id], dataTypeList=["SecondaryAnalysis"])
    )
    paths = {e.relative_path for e in manifest}
    folder = f"secondary-analysis/umccrise/{run.portal_run_id}/"
    lead = run.libraries.order_by("library_id").first().library_id
    assert {
        f"{folder}{lead}/qc/multiqc report.html",
        f"{folder}r\u00e9sum\u00e9 des m\u00e9triques \u2013 tumour.csv",
    } <= paths
    listed = {o.uri for o in list_objects(run.output_uri)}
    assert {e.source_uri for e in manifest} == listed


def test_overlapping_selection_lists_each_object_once_in_a_stable_order(demo):
    settings_ = config(projectIdList=["CUP", "PANCAN"], dataTypeList=["Fastq", "SecondaryAnalysis"])
    first, second = resolve(settings_), resolve(settings_)
    assert first == second
    paths = [e.relative_path for e in first]
    assert paths == sorted(paths)
    assert len({e.source_uri for e in first}) == len(first)
    assert ("L2400001", RUN_A, 1) in fastq_rows(first)  # in both projects, listed once


@pytest.mark.e2e  # writes the demo's objects to S3 afresh: about a second
def test_archived_fastq_is_marked_until_restored(fresh_demo, s3):
    manifest = resolve(config(libraryIdList=[ARCHIVED_LIBRARY]))
    archived = [e for e in manifest if e.archived]
    assert {e.storage_class for e in archived} == {"DEEP_ARCHIVE"}
    assert len(archived) == 2
    for entry in archived:
        target = parse_s3_uri(entry.source_uri)
        s3.restore_object(Bucket=target.bucket, Key=target.key, RestoreRequest={"Days": 1})
    assert not any(e.archived for e in resolve(config(libraryIdList=[ARCHIVED_LIBRARY])))


@pytest.mark.e2e  # writes the demo's objects to S3 afresh: about a second
def test_a_fastq_gone_from_s3_fails_the_resolution_naming_it(fresh_demo, s3):
    fastq = Fastq.objects.filter(library__library_id="L2400001").first()
    delete_object(fastq.r2_uri)
    with pytest.raises(MissingSourceObjects) as error:
        resolve(config(libraryIdList=["L2400001"]))
    assert error.value.details["objects"] == [fastq.r2_uri]
    assert "no longer in S3" in str(error.value)


@pytest.mark.e2e  # writes the demo's objects to S3 afresh: about a second
def test_a_fastq_replaced_since_the_import_is_shared_as_it_is_now(fresh_demo, s3):
    fastq = Fastq.objects.filter(library__library_id="L2400001").first()
    put_object(fastq.r1_uri, b"re-uploaded, longer than before" * 40)
    live = head_object(fastq.r1_uri)
    entry = next(
        e for e in resolve(config(libraryIdList=["L2400001"])) if e.source_uri == fastq.r1_uri
    )
    assert (entry.size, entry.etag) == (live.size, live.etag) != (fastq.r1_size, fastq.r1_etag)


HOSTILE_BUT_SAFE = [
    "$(touch CANARY).txt",
    "`touch CANARY`.txt",
    'quote\'s "double".txt',
    "semi;colon & pipe|.txt",
    "-rf --no-preserve-root.txt",
    "caf\u00e9 \u65e5\u672c.txt",
]


@pytest.mark.e2e  # writes the demo's objects to S3 afresh: about a second
@pytest.mark.parametrize("name", HOSTILE_BUT_SAFE)
def test_keys_with_shell_syntax_are_kept_verbatim(fresh_demo, name):
    run = WorkflowRun.objects.filter(workflow_name="sash").first()
    put_object(run.output_uri + name, b"data")
    manifest = resolve(
        config(portalRunIdList=[run.portal_run_id], dataTypeList=["SecondaryAnalysis"])
    )
    assert f"secondary-analysis/sash/{run.portal_run_id}/{name}" in {
        e.relative_path for e in manifest
    }


@pytest.mark.e2e  # writes the demo's objects to S3 afresh: about a second
@pytest.mark.parametrize(
    ("suffix", "reason"),
    [
        ("../../escape.txt", "has a '..' segment"),
        ("sub/../../escape.txt", "has a '..' segment"),
        ("/absolute.txt", "has an empty or '.' segment"),
        ("./dot.txt", "has an empty or '.' segment"),
        ("tab\t.txt", "contains a control character"),
        ("bell\x07.txt", "contains a control character"),
    ],
)
def test_keys_that_could_escape_the_destination_are_refused(fresh_demo, s3, suffix, reason):
    run = WorkflowRun.objects.filter(workflow_name="sash").first()
    prefix = parse_s3_uri(run.output_uri, prefix=True)
    s3.put_object(Bucket=prefix.bucket, Key=prefix.key + suffix, Body=b"data")
    with pytest.raises(UnsafeObjectKey) as error:
        resolve(config(portalRunIdList=[run.portal_run_id], dataTypeList=["SecondaryAnalysis"]))
    assert error.value.details["objects"] == [
        {"sourceUri": run.output_uri + suffix, "reason": reason}
    ]


@pytest.mark.parametrize(
    "path", ["a/new\nline.txt", "a/carriage\rreturn", "a/nul\x00", "a/del\x7f"]
)
def test_control_characters_anywhere_make_a_path_unsafe(path):
    """moto's server cannot store a key with a newline, so this rule is also checked alone."""
    assert unsafe_reason(path) == "contains a control character"


def make_libraries(count: int) -> list[str]:
    """Libraries with one fastq each, in one S3 folder (resolution confirms them there)."""
    ids = [f"L25{n:05d}" for n in range(count)]
    ensure_bucket(settings.DEMO_BUCKET)
    with ThreadPoolExecutor(max_workers=16) as pool:
        list(
            pool.map(
                lambda i: put_object(f"s3://{settings.DEMO_BUCKET}/bulk/{i}_R1.fastq.gz", b"x"),
                ids,
            )
        )
    Library.objects.bulk_create(Library(library_id=i, type="WGS") for i in ids)
    libraries = Library.objects.filter(library_id__in=ids)
    Fastq.objects.bulk_create(
        Fastq(
            library=library,
            instrument_run_id=RUN_A,
            lane=1,
            r1_uri=f"s3://{settings.DEMO_BUCKET}/bulk/{library.library_id}_R1.fastq.gz",
            r1_size=10,
            r1_etag="0" * 32,
        )
        for library in libraries
    )
    return ids


def queries_for(library_ids: list[str]) -> tuple[int, int]:
    payload = {"libraryIdList": library_ids, "dataTypeList": ["Fastq"], "shareType": "pull"}
    with CaptureQueriesContext(connection) as validating:
        serializer = LaunchSerializer(data=payload)
        assert serializer.is_valid(), serializer.errors
    with CaptureQueriesContext(connection) as resolving:
        manifest = resolve(serializer.normalised_config)
    assert len(manifest) == len(library_ids)
    return len(validating), len(resolving)


@pytest.mark.e2e  # hundreds of objects and rows: seconds
def test_query_count_does_not_grow_with_the_number_of_libraries(db, s3):
    ids = make_libraries(500)
    assert queries_for(ids[:10]) == queries_for(ids)
