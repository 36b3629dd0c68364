"""Import the catalogue from CSV or JSON files: a LIMS sheet, a fastq list, a workflow-run list.

Each file is imported whole or not at all: every row is checked, every bad row is reported with
the file, its line (CSV) or record number (JSON) and the reason, and if there is any, nothing of
that file is kept. Rows are upserts by their natural id, so importing a file twice changes
nothing. The columns are documented in docs/catalogue.md.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from catalogue.models import (
    Fastq,
    Individual,
    Library,
    Project,
    Sample,
    Subject,
    WorkflowRun,
)
from catalogue.workflows import accepted_workflow_names, canonical_workflow
from sharing_project.errors import ImportRejected
from sharing_project.s3.uris import bare_etag

LIMS = "lims"
FASTQ = "fastq"
WORKFLOW_RUN = "workflow-run"

COLUMNS: dict[str, tuple[str, ...]] = {
    LIMS: (
        "libraryId",
        "sampleId",
        "externalSampleId",
        "sampleSource",
        "subjectId",
        "individualId",
        "projectId",
        "projectName",
        "phenotype",
        "type",
        "assay",
        "workflow",
        "quality",
        "coverage",
    ),
    FASTQ: (
        "libraryId",
        "instrumentRunId",
        "lane",
        "index",
        "compression",
        "r1Uri",
        "r1Size",
        "r1Etag",
        "r1StorageClass",
        "r1Md5",
        "r1Sha256",
        "r2Uri",
        "r2Size",
        "r2Etag",
        "r2StorageClass",
        "r2Md5",
        "r2Sha256",
    ),
    WORKFLOW_RUN: (
        "portalRunId",
        "workflowName",
        "libraryIds",
        "outputUri",
        "status",
        "startTime",
        "endTime",
    ),
}
REQUIRED: dict[str, tuple[str, ...]] = {
    LIMS: ("libraryId",),
    FASTQ: ("libraryId", "instrumentRunId", "lane", "r1Uri", "r1Size", "r1Etag"),
    WORKFLOW_RUN: ("portalRunId", "workflowName", "libraryIds", "outputUri"),
}
KINDS = tuple(COLUMNS)


@dataclass(frozen=True)
class Row:
    where: str  # "line 3" or "record 2"
    values: dict[str, str]


@dataclass
class ImportResult:
    path: str
    kind: str
    created: int = 0
    updated: int = 0
    unchanged: int = 0

    def __str__(self) -> str:
        return (
            f"{self.path} ({self.kind}): {self.created} created, {self.updated} updated, "
            f"{self.unchanged} unchanged"
        )


def import_file(path: str | Path, kind: str | None = None) -> ImportResult:
    """Read one file, check and upsert every row in one transaction, or reject the whole file."""
    path = Path(path)
    rows = read_rows(path)
    columns = set().union(*(row.values for row in rows)) if rows else set()
    kind = kind or detect_kind(path, columns)
    unknown = sorted(columns - set(COLUMNS[kind]))
    if unknown:
        expected = ", ".join(COLUMNS[kind])
        raise ImportRejected(
            str(path), [f"unknown column(s) {', '.join(unknown)}; a {kind} file has: {expected}"]
        )
    return import_rows(rows, kind, source=str(path))


def import_rows(rows: list[Row], kind: str, *, source: str) -> ImportResult:
    """Check and upsert rows of one kind in one transaction; any bad row rejects them all."""
    result = ImportResult(source, kind)
    problems: list[str] = []
    upsert = _UPSERTS[kind]
    with transaction.atomic():
        for row in rows:
            try:
                outcome = upsert(_checked(row, kind))
            except ValidationError as error:
                problems.append(f"{row.where}: {_describe(error)}")
                continue
            setattr(result, outcome, getattr(result, outcome) + 1)
        if problems:
            # Leaving the atomic block by an exception undoes every row.
            raise ImportRejected(source, problems)
    return result


def read_rows(path: Path) -> list[Row]:
    if not path.is_file():
        raise ImportRejected(str(path), ["no such file"])
    if path.suffix.lower() == ".json":
        return _read_json(path)
    return _read_csv(path)


def detect_kind(path: Path, columns: set[str]) -> str:
    if "portalRunId" in columns:
        return WORKFLOW_RUN
    if "instrumentRunId" in columns or "r1Uri" in columns:
        return FASTQ
    if "libraryId" in columns:
        return LIMS
    raise ImportRejected(
        str(path),
        ["cannot tell what this file holds; give --kind, or use the columns in docs/"],
    )


def _read_csv(path: Path) -> list[Row]:
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        rows = []
        for record in reader:
            if None in record:
                raise ImportRejected(
                    str(path), [f"line {reader.line_num}: more cells than columns"]
                )
            values = {k.strip(): (v or "").strip() for k, v in record.items() if k is not None}
            if any(values.values()):
                rows.append(Row(f"line {reader.line_num}", values))
        return rows


def _read_json(path: Path) -> list[Row]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ImportRejected(str(path), [f"not valid JSON: {error}"]) from None
    if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
        raise ImportRejected(str(path), ["a JSON file must hold a list of objects, one per row"])
    return [
        Row(f"record {number}", {k: _json_cell(v) for k, v in item.items()})
        for number, item in enumerate(data, start=1)
    ]


def _json_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return ";".join(str(v) for v in value)
    return str(value)


def _checked(row: Row, kind: str) -> dict[str, str]:
    missing = [name for name in REQUIRED[kind] if not row.values.get(name)]
    if missing:
        raise ValidationError(f"missing {', '.join(missing)}")
    return {name: row.values.get(name, "") for name in COLUMNS[kind]}


def _describe(error: ValidationError) -> str:
    if hasattr(error, "error_dict"):
        return "; ".join(f"{name}: {' '.join(msgs)}" for name, msgs in error.message_dict.items())
    return " ".join(error.messages)


def _split(value: str) -> list[str]:
    return [item.strip() for item in value.split(";") if item.strip()]


def _choice(value: str, choices: type[models.TextChoices], column: str) -> str:
    if not value:
        return ""
    by_lower = {c.value.lower(): c.value for c in choices}
    try:
        return by_lower[value.lower()]
    except KeyError:
        raise ValidationError(
            f"{column} {value!r} is not one of {', '.join(c.value for c in choices)}"
        ) from None


def _number(value: str, column: str, cast: Callable[[str], Any]) -> Any:
    if value == "":
        return None
    try:
        return cast(value)
    except ValueError:
        raise ValidationError(f"{column} {value!r} is not a number") from None


def _when(value: str, column: str) -> datetime | None:
    if not value:
        return None
    try:
        parsed = parse_datetime(value)
    except ValueError:
        parsed = None
    if parsed is None:
        raise ValidationError(f"{column} {value!r} is not an ISO 8601 date-time")
    return parsed if timezone.is_aware(parsed) else timezone.make_aware(parsed, UTC)


def _save_if_changed(model: type[models.Model], lookup: dict, values: dict) -> tuple[Any, str]:
    """Create, update or leave one row; return it and which of the three happened."""
    instance = model.objects.filter(**lookup).first()
    if instance is None:
        instance = model(**lookup, **values)
        instance.save()
        return instance, "created"
    changed = [name for name, value in values.items() if getattr(instance, name) != value]
    if not changed:
        return instance, "unchanged"
    for name in changed:
        setattr(instance, name, values[name])
    instance.save()
    return instance, "updated"


def _set_related(manager, wanted: Iterable[models.Model]) -> bool:
    wanted_ids = {obj.pk for obj in wanted}
    if set(manager.values_list("pk", flat=True)) == wanted_ids:
        return False
    manager.set(wanted_ids)
    return True


def _row_outcome(main: str, related: list[str]) -> str:
    """A row is created or updated by its main record, or updated through its related ones."""
    if main != "unchanged":
        return main
    return "updated" if any(outcome != "unchanged" for outcome in related) else "unchanged"


def _upsert_lims(v: dict[str, str]) -> str:
    outcomes: list[str] = []
    sample = subject = None
    if v["sampleId"]:
        sample, outcome = _save_if_changed(
            Sample,
            {"sample_id": v["sampleId"]},
            {
                "external_sample_id": v["externalSampleId"],
                "source": _choice(v["sampleSource"], Sample.Source, "sampleSource"),
            },
        )
        outcomes.append(outcome)
    if v["subjectId"]:
        subject, outcome = _save_if_changed(Subject, {"subject_id": v["subjectId"]}, {})
        outcomes.append(outcome)
        if v["individualId"]:
            individual, outcome = _save_if_changed(
                Individual, {"individual_id": v["individualId"]}, {}
            )
            outcomes.append(outcome)
            if not subject.individuals.filter(pk=individual.pk).exists():
                subject.individuals.add(individual)
                outcomes.append("updated")
    elif v["individualId"]:
        raise ValidationError("individualId needs a subjectId on the same row")
    projects = []
    project_ids, names = _split(v["projectId"]), _split(v["projectName"])
    if names and len(names) != len(project_ids):
        raise ValidationError("projectName must give one name per projectId, in the same order")
    for project_id, name in zip(project_ids, names or [None] * len(project_ids), strict=True):
        values = {"name": name} if name else {}
        project, outcome = _save_if_changed(Project, {"project_id": project_id}, values)
        projects.append(project)
        outcomes.append(outcome)
    library, outcome = _save_if_changed(
        Library,
        {"library_id": v["libraryId"]},
        {
            "phenotype": _choice(v["phenotype"], Library.Phenotype, "phenotype"),
            "type": _choice(v["type"], Library.Type, "type"),
            "assay": v["assay"],
            "workflow": _choice(v["workflow"], Library.WorkflowKind, "workflow"),
            "quality": _choice(v["quality"], Library.Quality, "quality"),
            "coverage": _number(v["coverage"], "coverage", float),
            "sample": sample,
            "subject": subject,
        },
    )
    if _set_related(library.projects, projects):
        outcomes.append("updated")
    return _row_outcome(outcome, outcomes)


def _library(library_id: str) -> Library:
    library = Library.objects.filter(library_id=library_id).first()
    if library is None:
        raise ValidationError(
            f"libraryId {library_id} is not in the catalogue; import the LIMS sheet first"
        )
    return library


def _upsert_fastq(v: dict[str, str]) -> str:
    lane = _number(v["lane"], "lane", int)
    _, outcome = _save_if_changed(
        Fastq,
        {
            "library": _library(v["libraryId"]),
            "instrument_run_id": v["instrumentRunId"],
            "lane": lane,
        },
        {
            "index": v["index"].upper(),
            "compression": _choice(v["compression"] or "GZIP", Fastq.Compression, "compression"),
            "r1_uri": v["r1Uri"],
            "r1_size": _number(v["r1Size"], "r1Size", int),
            "r1_etag": bare_etag(v["r1Etag"]),
            "r1_storage_class": v["r1StorageClass"] or "STANDARD",
            "r1_md5": v["r1Md5"].lower(),
            "r1_sha256": v["r1Sha256"].lower(),
            "r2_uri": v["r2Uri"],
            "r2_size": _number(v["r2Size"], "r2Size", int),
            "r2_etag": bare_etag(v["r2Etag"]),
            "r2_storage_class": v["r2StorageClass"] or ("STANDARD" if v["r2Uri"] else ""),
            "r2_md5": v["r2Md5"].lower(),
            "r2_sha256": v["r2Sha256"].lower(),
        },
    )
    return outcome


def _upsert_workflow_run(v: dict[str, str]) -> str:
    workflow = canonical_workflow(v["workflowName"])
    if workflow is None:
        raise ValidationError(
            f"workflowName {v['workflowName']!r} is not known; use one of "
            f"{', '.join(accepted_workflow_names())}"
        )
    library_ids = _split(v["libraryIds"])
    libraries = list(Library.objects.filter(library_id__in=library_ids))
    missing = sorted(set(library_ids) - {lib.library_id for lib in libraries})
    if missing:
        raise ValidationError(
            f"libraryIds not in the catalogue: {', '.join(missing)}; import the LIMS sheet first"
        )
    output_uri = v["outputUri"] if v["outputUri"].endswith("/") else v["outputUri"] + "/"
    run, outcome = _save_if_changed(
        WorkflowRun,
        {"portal_run_id": v["portalRunId"]},
        {
            "workflow_name": workflow.value,
            "output_uri": output_uri,
            "status": _choice(v["status"] or "SUCCEEDED", WorkflowRun.Status, "status"),
            "start_time": _when(v["startTime"], "startTime"),
            "end_time": _when(v["endTime"], "endTime"),
        },
    )
    if _set_related(run.libraries, libraries) and outcome == "unchanged":
        outcome = "updated"
    return outcome


_UPSERTS: dict[str, Callable[[dict[str, str]], str]] = {
    LIMS: _upsert_lims,
    FASTQ: _upsert_fastq,
    WORKFLOW_RUN: _upsert_workflow_run,
}
