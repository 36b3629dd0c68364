"""`import_catalogue`: CSV and JSON upserts, idempotent, and a bad row rejects its whole file."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from catalogue.models import Fastq, Library, Project, Sample, Subject, WorkflowRun

pytestmark = pytest.mark.django_db

ETAG = "d41d8cd98f00b204e9800998ecf8427e"
RUN = "240101_A01052_0001_AHXXXXXXX"

LIMS_CSV = """libraryId,sampleId,externalSampleId,sampleSource,subjectId,individualId,projectId,projectName,phenotype,type,assay,workflow,quality,coverage
L2400001,PRJ240001,EXT-1T,tissue,SN_PMCC-0001,SBJ00001,CUP;PANCAN,Cancer of unknown primary;Pan-cancer,tumor,WGS,TsqNano,clinical,good,80
L2400002,PRJ240002,EXT-1N,blood,SN_PMCC-0001,SBJ00001,CUP,Cancer of unknown primary,Normal,wgs,TsqNano,clinical,good,40
"""

FASTQ_CSV = f"""libraryId,instrumentRunId,lane,index,compression,r1Uri,r1Size,r1Etag,r1StorageClass,r2Uri,r2Size,r2Etag,r2StorageClass
L2400001,{RUN},1,ACGT+TTGA,GZIP,s3://primary/{RUN}/L2400001_R1.fastq.gz,100,{ETAG},STANDARD,s3://primary/{RUN}/L2400001_R2.fastq.gz,101,{ETAG},DEEP_ARCHIVE
L2400002,{RUN},2,ACGT+TTGA,GZIP,s3://primary/{RUN}/L2400002_R1.fastq.gz,200,{ETAG},,,,,
"""

RUNS_CSV = """portalRunId,workflowName,libraryIds,outputUri,status,startTime,endTime
20240201abcdef01,dragen-wgts-dna,L2400001;L2400002,s3://analysis/tn/20240201abcdef01,SUCCEEDED,2024-02-01T01:00:00Z,2024-02-01T09:00:00Z
20240202abcdef02,umccrise,L2400001;L2400002,s3://analysis/um/20240202abcdef02/,FAILED,,
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def run_import(*paths: Path, kind: str | None = None) -> str:
    out = StringIO()
    options = {"kind": kind} if kind else {}
    call_command("import_catalogue", *map(str, paths), stdout=out, **options)
    return out.getvalue()


def catalogue_state() -> list:
    return [
        list(Library.objects.values().order_by("library_id")),
        list(Library.projects.through.objects.values_list("library_id", "project_id")),
        list(Fastq.objects.values().order_by("pk")),
        list(WorkflowRun.objects.values().order_by("pk")),
        list(WorkflowRun.libraries.through.objects.values_list("workflowrun_id", "library_id")),
    ]


@pytest.fixture
def files(tmp_path) -> list[Path]:
    return [
        write(tmp_path, "lims.csv", LIMS_CSV),
        write(tmp_path, "fastqs.csv", FASTQ_CSV),
        write(tmp_path, "runs.csv", RUNS_CSV),
    ]


def test_csv_files_are_imported_with_their_relations(files):
    output = run_import(*files)
    assert "lims.csv (lims): 2 created" in output
    assert "fastqs.csv (fastq): 2 created" in output
    assert "runs.csv (workflow-run): 2 created" in output
    tumour = Library.objects.get(library_id="L2400001")
    assert tumour.phenotype == "tumor"
    assert tumour.sample.external_sample_id == "EXT-1T"
    assert sorted(tumour.projects.values_list("project_id", "name")) == [
        ("CUP", "Cancer of unknown primary"),
        ("PANCAN", "Pan-cancer"),
    ]
    assert list(tumour.subject.individuals.values_list("individual_id", flat=True)) == ["SBJ00001"]
    normal = Library.objects.get(library_id="L2400002")
    assert (normal.phenotype, normal.type) == ("normal", "WGS")
    archived = Fastq.objects.get(library=tumour)
    assert archived.is_archived
    assert archived.r2_size == 101
    run = WorkflowRun.objects.get(portal_run_id="20240201abcdef01")
    assert run.workflow_name == "tumor-normal"
    assert run.output_uri == "s3://analysis/tn/20240201abcdef01/"
    assert sorted(run.libraries.values_list("library_id", flat=True)) == ["L2400001", "L2400002"]


def test_importing_twice_changes_nothing(files):
    run_import(*files)
    before = catalogue_state()
    output = run_import(*files)
    assert catalogue_state() == before
    assert output.count("0 created, 0 updated, 2 unchanged") == 3
    assert Subject.objects.count() == 1
    assert Sample.objects.count() == 2


def test_changed_row_is_updated_in_place(files, tmp_path):
    run_import(*files)
    changed = write(tmp_path, "lims2.csv", LIMS_CSV.replace("tumor,WGS", "tumor,WTS"))
    assert "0 created, 1 updated, 1 unchanged" in run_import(changed)
    assert Library.objects.get(library_id="L2400001").type == "WTS"
    assert Library.objects.count() == 2


def test_bad_row_rejects_the_whole_file_naming_file_and_line(tmp_path):
    bad = write(
        tmp_path,
        "lims.csv",
        LIMS_CSV + "L24003,PRJ240003,,,SN_PMCC-0002,SBJ00002,CUP,,tumor,WGS,,,,\n"
        "L2400004,PRJ240004,,,SN_PMCC-0002,SBJ00002,CUP,,sideways,WGS,,,,\n",
    )
    with pytest.raises(CommandError) as error:
        run_import(bad)
    message = str(error.value)
    assert f"{bad}: line 4: library_id: Enter a valid library id" in message
    assert f"{bad}: line 5: phenotype 'sideways' is not one of normal, tumor" in message
    assert "nothing imported" in message
    assert not Library.objects.exists()
    assert not Project.objects.exists()


def test_bad_file_is_rejected_while_good_files_before_it_stay(files, tmp_path):
    bad_fastqs = write(tmp_path, "bad.csv", FASTQ_CSV.replace("L2400002,", "L2400009,"))
    with pytest.raises(CommandError) as error:
        run_import(files[0], bad_fastqs)
    assert "line 3: libraryId L2400009 is not in the catalogue" in str(error.value)
    assert Library.objects.count() == 2
    assert not Fastq.objects.exists()


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (FASTQ_CSV.replace(",1,ACGT", ",9,ACGT"), "lane: Ensure this value is less than"),
        (FASTQ_CSV.replace(",100,", ",many,"), "r1Size 'many' is not a number"),
        (FASTQ_CSV.replace(f"s3://primary/{RUN}/L2400001_R1", "/tmp/R1"), "r1_uri"),
        (FASTQ_CSV.replace(f"L2400001,{RUN}", "L2400001,run-1"), "instrument_run_id"),
    ],
)
def test_bad_fastq_rows_are_reported_with_the_reason(files, tmp_path, text, reason):
    run_import(files[0])
    with pytest.raises(CommandError, match="line 2: " + reason.split(":")[0]) as error:
        run_import(write(tmp_path, "f.csv", text))
    assert reason in str(error.value)
    assert not Fastq.objects.exists()


def test_unknown_workflow_and_libraries_are_named(files, tmp_path):
    run_import(files[0])
    text = RUNS_CSV.replace("dragen-wgts-dna", "bwa-mem").replace(
        "L2400001;L2400002,s3://analysis/um", "L2400077,s3://analysis/um"
    )
    with pytest.raises(CommandError) as error:
        run_import(write(tmp_path, "runs.csv", text))
    assert "line 2: workflowName 'bwa-mem' is not known; use one of cttsov2" in str(error.value)
    assert "line 3: libraryIds not in the catalogue: L2400077" in str(error.value)
    assert not WorkflowRun.objects.exists()


def test_project_names_must_pair_with_project_ids(tmp_path):
    text = "libraryId,projectId,projectName\nL2400001,CUP;PANCAN,Cancer of unknown primary\n"
    with pytest.raises(CommandError, match="line 2: projectName must give one name per projectId"):
        run_import(write(tmp_path, "lims.csv", text))


def test_unknown_column_is_refused(tmp_path):
    path = write(tmp_path, "lims.csv", "libraryId,phenotyp\nL2400001,tumor\n")
    with pytest.raises(CommandError, match="unknown column\\(s\\) phenotyp"):
        run_import(path)


def test_json_file_is_imported_with_record_numbers_in_errors(tmp_path):
    records = [
        {"libraryId": "L2400001", "projectId": ["CUP", "PANCAN"], "phenotype": "tumor"},
        {"libraryId": "L2400002", "projectId": "CUP", "coverage": 40.5},
    ]
    path = write(tmp_path, "lims.json", json.dumps(records))
    assert "2 created" in run_import(path)
    assert Library.objects.get(library_id="L2400002").coverage == 40.5
    assert Library.objects.get(library_id="L2400001").projects.count() == 2
    records.append({"libraryId": "LX"})
    with pytest.raises(CommandError, match="record 3: library_id"):
        run_import(write(tmp_path, "more.json", json.dumps(records)))


def test_file_that_is_not_json_is_refused(tmp_path):
    with pytest.raises(CommandError, match="not valid JSON"):
        run_import(write(tmp_path, "lims.json", "{libraryId: 1"))


def test_missing_file_is_reported(tmp_path):
    with pytest.raises(CommandError, match="no such file"):
        run_import(tmp_path / "absent.csv", kind="lims")


SHA256 = "a" * 64
MD5 = "b" * 32
FASTQ_WITH_CHECKSUMS_CSV = f"""libraryId,instrumentRunId,lane,r1Uri,r1Size,r1Etag,r1Md5,r1Sha256,r2Uri,r2Size,r2Etag,r2Sha256
L2400001,{RUN},1,s3://primary/{RUN}/L2400001_R1.fastq.gz,100,{ETAG}-2,{MD5},{SHA256.upper()},s3://primary/{RUN}/L2400001_R2.fastq.gz,101,{ETAG}-2,{SHA256}
"""


def test_fastq_checksums_the_fastq_manager_publishes_are_imported(files, tmp_path):
    run_import(files[0])
    run_import(write(tmp_path, "f.csv", FASTQ_WITH_CHECKSUMS_CSV))
    fastq = Fastq.objects.get()
    assert (fastq.r1_md5, fastq.r1_sha256) == (MD5, SHA256)  # hex in any case, kept lower
    assert (fastq.r2_md5, fastq.r2_sha256) == ("", SHA256)


def test_a_malformed_fastq_checksum_rejects_the_file_naming_it(files, tmp_path):
    run_import(files[0])
    text = FASTQ_WITH_CHECKSUMS_CSV.replace(SHA256.upper(), "not-a-sha256")
    with pytest.raises(CommandError) as error:
        run_import(write(tmp_path, "f.csv", text))
    assert "line 2: r1_sha256: Enter a SHA-256: 64 lower-case hex digits." in str(error.value)
    assert not Fastq.objects.exists()
