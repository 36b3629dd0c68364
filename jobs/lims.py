"""The LIMS CSV handed out with a share: one row per shared library and instrument run."""

from __future__ import annotations

import csv
import io
from collections import defaultdict

from catalogue.models import Library, WorkflowRun
from jobs.models import Job, JobObject

COLUMNS = [
    "libraryId",
    "sampleId",
    "externalSampleId",
    "subjectId",
    "individualId",
    "projectId",
    "phenotype",
    "type",
    "assay",
    "quality",
    "workflow",
    "instrumentRunId",
    "portalRunIds",
]
# A cell starting with one of these is read as a formula by spreadsheet programs.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def lims_rows(job: Job) -> list[dict[str, str]]:
    """Rows for every library the job shares: one per instrument run it has fastqs on, and
    one with an empty run for a library shared only through secondary analysis. A library
    is shared through a workflow run when it is one of the run's libraries."""
    objects = JobObject.objects.filter(job=job)
    runs_of: dict[str, set[str]] = defaultdict(set)
    for library_id, run_id in (
        objects.filter(kind=JobObject.Kind.FASTQ)
        .values_list("library_id", "instrument_run_id")
        .distinct()
    ):
        runs_of[library_id].add(run_id)
    portal_runs_of: dict[str, set[str]] = defaultdict(set)
    portal_run_ids = objects.filter(kind=JobObject.Kind.SECONDARY).values("portal_run_id")
    for run in WorkflowRun.objects.filter(portal_run_id__in=portal_run_ids).prefetch_related(
        "libraries"
    ):
        for library in run.libraries.all():
            portal_runs_of[library.library_id].add(run.portal_run_id)
    libraries = (
        Library.objects.filter(library_id__in=set(runs_of) | set(portal_runs_of))
        .select_related("sample", "subject")
        .prefetch_related("projects", "subject__individuals")
        .order_by("library_id")
    )
    rows = []
    for library in libraries:
        base = _library_cells(library)
        base["portalRunIds"] = ";".join(sorted(portal_runs_of.get(library.library_id, ())))
        for run_id in sorted(runs_of.get(library.library_id, ())) or [""]:
            rows.append(base | {"instrumentRunId": run_id})
    return rows


def _library_cells(library: Library) -> dict[str, str]:
    subject = library.subject
    return {
        "libraryId": library.library_id,
        "sampleId": library.sample.sample_id if library.sample else "",
        "externalSampleId": library.sample.external_sample_id if library.sample else "",
        "subjectId": subject.subject_id if subject else "",
        "individualId": ";".join(sorted(i.individual_id for i in subject.individuals.all()))
        if subject
        else "",
        "projectId": ";".join(sorted(p.project_id for p in library.projects.all())),
        "phenotype": library.phenotype,
        "type": library.type,
        "assay": library.assay,
        "quality": library.quality,
        "workflow": library.workflow,
    }


def render_lims_csv(rows: list[dict[str, str]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({key: _cell(row.get(key, "")) for key in COLUMNS})
    return out.getvalue()


def _cell(value: str) -> str:
    return "'" + value if value.startswith(_FORMULA_START) else value
