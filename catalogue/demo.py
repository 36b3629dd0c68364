"""A realistic demo catalogue with real small objects in S3, for `make run` and the tests.

Deterministic: the same ids, keys and bytes every time, so seeding twice changes nothing in the
catalogue (the objects are written again, because the embedded S3 server keeps nothing on disk).

What it holds: 3 projects; 10 tumour/normal WGS pairs, 4 WTS and 2 ctDNA libraries; 2 instrument
runs with several lanes (two libraries topped up on the second run); workflow runs of several
workflows, one tumor-normal run repeated for the same libraries and one that failed; one fastq
in DEEP_ARCHIVE; output keys with spaces and non-ASCII characters.
"""

from __future__ import annotations

import gzip
import hashlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction

from catalogue.importers import (
    FASTQ,
    LIMS,
    WORKFLOW_RUN,
    ImportResult,
    Row,
    import_rows,
)
from sharing_project.s3.objects import S3Object, ensure_bucket, put_object

RUN_A = "240115_A01052_0185_AHJLMNDSXA"
RUN_B = "240212_A00130_0301_BHKTVWDSXB"
ARCHIVED_LIBRARY = "L2400010"
PROJECTS = {"CUP": "Cancer of unknown primary", "BPOP": "Bowel polyps", "PANCAN": "Pan-cancer"}


@dataclass(frozen=True)
class DemoObject:
    uri: str
    body: bytes
    storage_class: str = "STANDARD"


@dataclass
class DemoResult:
    imports: list[ImportResult]
    objects: int
    bytes: int


def seed_demo(bucket: str | None = None) -> DemoResult:
    """Write the demo objects to S3, then upsert the catalogue rows that describe them."""
    bucket = bucket or settings.DEMO_BUCKET
    objects = put_demo_objects(bucket)
    imports = import_demo_catalogue(bucket)
    return DemoResult(imports, len(objects), sum(len(o.body) for o in objects))


def put_demo_objects(bucket: str) -> list[DemoObject]:
    ensure_bucket(bucket)
    objects = build_demo(bucket)[3]
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(_put, objects))
    return objects


def import_demo_catalogue(bucket: str) -> list[ImportResult]:
    lims, fastqs, runs, _ = build_demo(bucket)
    with transaction.atomic():
        return [
            import_rows(lims, LIMS, source="demo LIMS sheet"),
            import_rows(fastqs, FASTQ, source="demo fastq list"),
            import_rows(runs, WORKFLOW_RUN, source="demo workflow runs"),
        ]


def _put(demo_object: DemoObject) -> S3Object:
    return put_object(demo_object.uri, demo_object.body, storage_class=demo_object.storage_class)


def build_demo(bucket: str) -> tuple[list[Row], list[Row], list[Row], list[DemoObject]]:
    lims = _lims_rows()
    objects: list[DemoObject] = []
    fastqs = _fastq_rows(bucket, lims, objects)
    runs = _workflow_run_rows(bucket, objects)
    return lims, fastqs, runs, objects


def _library_id(number: int) -> str:
    return f"L24{number:05d}"


def _pair_project(pair: int) -> str:
    return "CUP" if pair <= 4 else "BPOP" if pair <= 7 else "PANCAN"


def _lims_rows() -> list[Row]:
    rows = []
    for pair in range(1, 11):
        for offset, phenotype, source in ((-1, "tumor", "tissue"), (0, "normal", "blood")):
            number = 2 * pair + offset
            projects = _pair_project(pair) + (";PANCAN" if pair == 1 else "")
            rows.append(_lims_row(number, pair, phenotype, source, "WGS", "TsqNano", projects))
    for pair in range(1, 5):
        rows.append(_lims_row(20 + pair, pair, "tumor", "tissue", "WTS", "NebRNA", "CUP"))
    for index, pair in enumerate((5, 6), start=25):
        rows.append(_lims_row(index, pair, "tumor", "plasma", "ctDNA", "ctTSOv2", "BPOP"))
    return [Row(f"line {n}", values) for n, values in enumerate(rows, start=2)]


def _lims_row(
    number: int, pair: int, phenotype: str, source: str, kind: str, assay: str, projects: str
) -> dict[str, str]:
    return {
        "libraryId": _library_id(number),
        "sampleId": f"PRJ24{number:04d}",
        "externalSampleId": f"EXT-{pair:03d}-{phenotype[0].upper()}{number}",
        "sampleSource": source,
        "subjectId": f"SN_PMCC-{pair:04d}",
        "individualId": f"SBJ{pair:05d}",
        "projectId": projects,
        "projectName": ";".join(PROJECTS[p] for p in projects.split(";")),
        "phenotype": phenotype,
        "type": kind,
        "assay": assay,
        "workflow": "clinical" if pair <= 4 else "research",
        "quality": "good" if number % 7 else "borderline",
        "coverage": "" if kind != "WGS" else ("80" if phenotype == "tumor" else "40"),
    }


def _fastq_body(library_id: str, run: str, lane: int, read: int) -> bytes:
    """A small, valid gzip'd fastq, different for every library, lane and read."""
    seed = hashlib.sha256(f"{library_id}{run}{lane}{read}".encode()).hexdigest()
    bases = "".join("ACGT"[int(c, 16) % 4] for c in seed * 2)[:100]
    records = "".join(
        f"@{run}:{lane}:{i} {read}:N:0\n{bases[i:] + bases[:i]}\n+\n{'F' * 100}\n"
        for i in range(20)
    )
    return gzip.compress(records.encode(), mtime=0)


def _fastq_rows(bucket: str, lims: list[Row], objects: list[DemoObject]) -> list[Row]:
    placements: list[tuple[str, str, int]] = []
    for position, row in enumerate(lims):
        library_id = row.values["libraryId"]
        run = RUN_A if position < 12 else RUN_B
        placements.append((library_id, run, position % 4 + 1))
    # Two libraries were topped up on the second run.
    placements += [(_library_id(1), RUN_B, 4), (_library_id(3), RUN_B, 4)]
    rows = []
    for line, (library_id, run, lane) in enumerate(placements, start=2):
        storage = "DEEP_ARCHIVE" if (library_id, run) == (ARCHIVED_LIBRARY, RUN_A) else "STANDARD"
        values = {
            "libraryId": library_id,
            "instrumentRunId": run,
            "lane": str(lane),
            "index": "ACGTACGT+TTGACCAA",
            "compression": "GZIP",
        }
        for read in (1, 2):
            body = _fastq_body(library_id, run, lane, read)
            sample_number = int(library_id[3:])
            uri = (
                f"s3://{bucket}/primary/{run}/Lane_{lane}/{library_id}/"
                f"{library_id}_S{sample_number}_L00{lane}_R{read}_001.fastq.gz"
            )
            objects.append(DemoObject(uri, body, storage))
            values |= {
                f"r{read}Uri": uri,
                f"r{read}Size": str(len(body)),
                f"r{read}Etag": hashlib.md5(body).hexdigest(),
                f"r{read}StorageClass": storage,
            }
        rows.append(Row(f"line {line}", values))
    return rows


# workflow, library numbers, date, status; the second tumor-normal run of pair 1 repeats the first.
_WORKFLOW_RUNS: list[tuple[str, tuple[int, ...], str, str]] = (
    [("tumor-normal", (2 * p - 1, 2 * p), f"202402{p:02d}", "SUCCEEDED") for p in range(1, 11)]
    + [
        ("tumor-normal", (1, 2), "20240301", "SUCCEEDED"),
        ("tumor-normal", (17, 18), "20240302", "FAILED"),
    ]
    + [("umccrise", (2 * p - 1, 2 * p), f"202403{p + 10:02d}", "SUCCEEDED") for p in range(1, 6)]
    + [("sash", (2 * p - 1, 2 * p), f"202403{p + 20:02d}", "SUCCEEDED") for p in range(1, 4)]
    + [("oncoanalyser-wgts-dna", (2 * p - 1, 2 * p), f"202404{p:02d}", "SUCCEEDED") for p in (6, 7)]
    + [("wts", (n,), f"202404{n - 10:02d}", "SUCCEEDED") for n in (21, 22, 23, 24)]
    + [("rnasum", (n,), f"202404{n:02d}", "SUCCEEDED") for n in (21, 22)]
    + [("oncoanalyser-wgts-dna-rna", (1, 2, 21), "20240425", "SUCCEEDED")]
    + [("cttsov2", (n,), f"202405{n - 20:02d}", "SUCCEEDED") for n in (25, 26)]
)


def _output_files(workflow: str, libraries: list[str]) -> dict[str, bytes]:
    """Relative path -> bytes of a run's outputs: nested folders, spaces, non-ASCII."""
    lead = libraries[0]
    text = f"{workflow} outputs for {', '.join(libraries)}\n".encode()
    files = {
        f"{lead}/{lead}.summary.tsv": b"metric\tvalue\nreads\t2000\n" + text,
        f"{lead}/qc/multiqc report.html": b"<html><body>" + text + b"</body></html>\n",
        "résumé des métriques \u2013 tumour.csv": "métrique,valeur\ncouverture,80\u00d7\n".encode(),
    }
    if workflow in ("tumor-normal", "oncoanalyser-wgts-dna", "sash", "umccrise"):
        files[f"{lead}/{lead}.somatic.vcf.gz"] = gzip.compress(
            b"##fileformat=VCFv4.2\n" + text, mtime=0
        )
    return files


def _workflow_run_rows(bucket: str, objects: list[DemoObject]) -> list[Row]:
    rows = []
    for line, (workflow, numbers, day, status) in enumerate(_WORKFLOW_RUNS, start=2):
        libraries = [_library_id(n) for n in numbers]
        digest = hashlib.sha256(f"{workflow}{numbers}{day}".encode()).hexdigest()[:8]
        portal_run_id = f"{day}{digest}"
        prefix = f"s3://{bucket}/analysis/{workflow}/{portal_run_id}/"
        for relative, body in _output_files(workflow, libraries).items():
            objects.append(DemoObject(prefix + relative, body))
        rows.append(
            Row(
                f"line {line}",
                {
                    "portalRunId": portal_run_id,
                    "workflowName": workflow,
                    "libraryIds": ";".join(libraries),
                    "outputUri": prefix,
                    "status": status,
                    "startTime": f"{day[:4]}-{day[4:6]}-{day[6:]}T01:00:00Z",
                    "endTime": f"{day[:4]}-{day[4:6]}-{day[6:]}T09:30:00Z",
                },
            )
        )
    return rows
