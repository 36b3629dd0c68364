"""Resolution: a normalised configuration -> the manifest of objects it shares.

Rules (DESIGN, "Resolution"):
- Libraries come from the one metadata list given; subject, individual and project expand to
  their libraries.
- Fastqs: the libraries' fastq list rows, intersected with instrumentRunIdList when given (alone,
  every fastq of those runs). Each row shares its R1 and R2 objects.
- Secondary analysis: exactly portalRunIdList when given; otherwise every successful run of the
  selected workflows (all when none are named) that touches the libraries, minus the exclusions.
- A run's objects are listed from its output prefix in S3.
- Relative paths: fastq/<instrumentRunId>/Lane_<lane>/<libraryId>/<file name> and
  secondary-analysis/<workflow>/<portalRunId>/<path below the output prefix>.

The database work is a fixed number of queries whatever the number of ids.
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

from django.db.models import QuerySet

from catalogue.models import Fastq, Library, WorkflowRun
from shares.contract import METADATA_LISTS, DataType
from sharing_project.errors import DuplicateRelativePath, MissingSourceObjects, UnsafeObjectKey

# The functions that call S3 import its modules themselves: the console's share form imports
# this module (for select()) at every start-up, which must not load boto3.
from sharing_project.s3.uris import ARCHIVABLE_STORAGE_CLASSES, parse_s3_uri

FASTQ, SECONDARY = DataType.FASTQ, DataType.SECONDARY_ANALYSIS
_LIBRARY_LOOKUPS = {
    "libraryIdList": "library_id__in",
    "subjectIdList": "subject__subject_id__in",
    "individualIdList": "subject__individuals__individual_id__in",
    "projectIdList": "projects__project_id__in",
}
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_PARALLEL_S3_CALLS = 8


@dataclass(frozen=True)
class Selection:
    fastqs: list[Fastq]
    workflow_runs: list[WorkflowRun]


@dataclass(frozen=True)
class ManifestEntry:
    kind: str  # "fastq" or "secondary"
    source_uri: str
    relative_path: str
    size: int
    etag: str
    storage_class: str
    archived: bool = False
    library_id: str = ""
    instrument_run_id: str = ""
    lane: int | None = None
    portal_run_id: str = ""
    workflow_name: str = ""
    # The content checksums known (catalogue.checksums fills them in): hex MD5 and SHA-256,
    # S3's full-object checksum as "ALGORITHM:base64", which of them is the reference
    # (checksum_source), and why there is none (checksum_note).
    md5: str = ""
    sha256: str = ""
    s3_checksum: str = ""
    checksum_source: str = ""
    checksum_note: str = ""


def selected_libraries(config: dict) -> QuerySet | None:
    """The libraries of the one metadata list given, as a subquery; None when none is given."""
    for name in METADATA_LISTS:
        if config.get(name):
            lookup = {_LIBRARY_LOOKUPS[name]: config[name]}
            return Library.objects.filter(**lookup).values("pk")
    return None


def select(config: dict) -> Selection:
    """The catalogue rows a configuration selects (two queries at most)."""
    libraries = selected_libraries(config)
    data_types = config.get("dataTypeList", [])
    fastqs: list[Fastq] = []
    if FASTQ in data_types:
        rows = Fastq.objects.select_related("library")
        if libraries is not None:
            rows = rows.filter(library__in=libraries)
        if config.get("instrumentRunIdList"):
            rows = rows.filter(instrument_run_id__in=config["instrumentRunIdList"])
        if libraries is not None or config.get("instrumentRunIdList"):
            fastqs = list(rows.order_by("instrument_run_id", "lane", "library__library_id"))
    runs: list[WorkflowRun] = []
    if SECONDARY in data_types:
        if config.get("portalRunIdList"):
            found = WorkflowRun.objects.filter(portal_run_id__in=config["portalRunIdList"])
        elif libraries is not None:
            found = WorkflowRun.objects.filter(
                libraries__in=libraries, status=WorkflowRun.Status.SUCCEEDED
            ).exclude(portal_run_id__in=config.get("portalRunIdExclusionList", []))
            if config.get("secondaryAnalysisWorkflowList"):
                found = found.filter(workflow_name__in=config["secondaryAnalysisWorkflowList"])
        else:
            found = WorkflowRun.objects.none()
        runs = list(found.distinct().order_by("portal_run_id"))
    return Selection(fastqs, runs)


def precedence_notes(config: dict) -> list[str]:
    """What a configuration asks for that portalRunIdList overrides, said out loud: the
    contract lets portalRunIdList take precedence, which should never pass unnoticed."""
    if SECONDARY not in config.get("dataTypeList", []) or not config.get("portalRunIdList"):
        return []
    notes = []
    if config.get("secondaryAnalysisWorkflowList"):
        notes.append(
            "secondaryAnalysisWorkflowList is not used: portalRunIdList names exactly the "
            "workflow runs to share."
        )
    if config.get("portalRunIdExclusionList"):
        notes.append("portalRunIdExclusionList is not used: portalRunIdList takes precedence.")
    given = [name for name in METADATA_LISTS if config.get(name)]
    if given:
        fastqs = " (it still selects the fastqs)" if FASTQ in config["dataTypeList"] else ""
        notes.append(
            f"{given[0]} does not narrow the secondary analysis{fastqs}: portalRunIdList "
            "names exactly the workflow runs to share."
        )
    return notes


def resolve(config: dict) -> list[ManifestEntry]:
    """Every object a configuration shares, de-duplicated, safe, in a stable order.

    Steps: select the catalogue rows; turn fastq rows into their R1/R2 objects and confirm
    them in S3; list each workflow run's output prefix in S3 (in parallel); refuse unsafe or
    colliding paths; mark archived objects that are not restored.
    """
    selection = select(config)
    entries = _confirm_in_s3(
        [entry for fastq in selection.fastqs for entry in _fastq_entries(fastq)]
    )
    with ThreadPoolExecutor(max_workers=_PARALLEL_S3_CALLS) as pool:
        for run_entries in pool.map(_workflow_run_entries, selection.workflow_runs):
            entries.extend(run_entries)
    entries = _unique(entries)
    _refuse_unsafe(entries)
    return _mark_archived(entries)


def _fastq_entries(fastq: Fastq) -> list[ManifestEntry]:
    reads = [
        (fastq.r1_uri, fastq.r1_size, fastq.r1_etag, fastq.r1_storage_class),
    ]
    checksums = [(fastq.r1_md5, fastq.r1_sha256)]
    if fastq.r2_uri:
        reads.append((fastq.r2_uri, fastq.r2_size, fastq.r2_etag, fastq.r2_storage_class))
        checksums.append((fastq.r2_md5, fastq.r2_sha256))
    library_id = fastq.library.library_id
    folder = f"fastq/{fastq.instrument_run_id}/Lane_{fastq.lane}/{library_id}/"
    return [
        ManifestEntry(
            kind="fastq",
            source_uri=uri,
            relative_path=folder + uri.rsplit("/", 1)[-1],
            size=size,
            etag=etag,
            storage_class=storage_class,
            library_id=library_id,
            instrument_run_id=fastq.instrument_run_id,
            lane=fastq.lane,
            md5=md5,
            sha256=sha256,
        )
        for (uri, size, etag, storage_class), (md5, sha256) in zip(reads, checksums, strict=True)
    ]


def _confirm_in_s3(entries: list[ManifestEntry]) -> list[ManifestEntry]:
    """The catalogue's fastq objects as S3 has them now: one listing per folder (in parallel,
    not one HEAD per object); an object that has gone fails the resolution, naming it, and
    one replaced since the import is shared with its current size, ETag and storage class,
    without the catalogue's checksums, which were of the bytes it replaced."""
    from sharing_project.s3.objects import list_objects

    folders = sorted({entry.source_uri.rsplit("/", 1)[0] + "/" for entry in entries})
    with ThreadPoolExecutor(max_workers=_PARALLEL_S3_CALLS) as pool:
        listings = pool.map(lambda folder: list(list_objects(folder)), folders)
        live = {item.uri: item for listing in listings for item in listing}
    missing = [entry.source_uri for entry in entries if entry.source_uri not in live]
    if missing:
        raise MissingSourceObjects(
            f"{len(missing)} fastq object(s) in the catalogue are no longer in S3 (first: "
            f"{missing[0]}); re-import the catalogue, or leave their libraries or runs out.",
            {"objects": missing[:100]},
        )
    return [_as_live(entry, live[entry.source_uri]) for entry in entries]


def _as_live(entry: ManifestEntry, live) -> ManifestEntry:
    replaced = (live.size, live.etag) != (entry.size, entry.etag)
    return replace(
        entry,
        size=live.size,
        etag=live.etag,
        storage_class=live.storage_class,
        md5="" if replaced else entry.md5,
        sha256="" if replaced else entry.sha256,
    )


def _workflow_run_entries(run: WorkflowRun) -> list[ManifestEntry]:
    from sharing_project.s3.objects import list_objects

    prefix = parse_s3_uri(run.output_uri, prefix=True)
    folder = f"secondary-analysis/{run.workflow_name}/{run.portal_run_id}/"
    return [
        ManifestEntry(
            kind="secondary",
            source_uri=item.uri,
            relative_path=folder + item.key[len(prefix.key) :],
            size=item.size,
            etag=item.etag,
            storage_class=item.storage_class,
            portal_run_id=run.portal_run_id,
            workflow_name=run.workflow_name,
        )
        for item in list_objects(run.output_uri)
        if not item.key.endswith("/")  # folder markers are not files
    ]


def _unique(entries: list[ManifestEntry]) -> list[ManifestEntry]:
    by_source: dict[str, ManifestEntry] = {}
    for entry in entries:
        by_source.setdefault(entry.source_uri, entry)
    by_path: dict[str, ManifestEntry] = {}
    clashes = []
    for entry in by_source.values():
        other = by_path.setdefault(entry.relative_path, entry)
        if other is not entry:
            clashes.append(
                {
                    "relativePath": entry.relative_path,
                    "sources": [other.source_uri, entry.source_uri],
                }
            )
    if clashes:
        raise DuplicateRelativePath(
            f"{len(clashes)} relative path(s) would be written by two different objects; "
            "share them separately.",
            {"clashes": clashes[:100]},
        )
    return sorted(by_path.values(), key=lambda e: e.relative_path)


def unsafe_reason(relative_path: str) -> str | None:
    """Why a relative path could escape or confuse the destination, or None when it is safe."""
    if _CONTROL.search(relative_path):
        return "contains a control character"
    if relative_path.startswith("/"):
        return "is absolute"
    segments = relative_path.split("/")
    if any(segment == ".." for segment in segments):
        return "has a '..' segment"
    if any(segment in ("", ".") for segment in segments):
        return "has an empty or '.' segment"
    return None


def _refuse_unsafe(entries: list[ManifestEntry]) -> None:
    unsafe = [
        {"sourceUri": entry.source_uri, "reason": reason}
        for entry in entries
        if (reason := unsafe_reason(entry.relative_path))
    ]
    if unsafe:
        raise UnsafeObjectKey(
            f"{len(unsafe)} object(s) have keys that cannot be shared safely (absolute, '..', "
            "empty segments or control characters); rename them or exclude their runs.",
            {"objects": unsafe[:100]},
        )


def _mark_archived(entries: list[ManifestEntry]) -> list[ManifestEntry]:
    """Ask S3 (one HEAD each, in parallel) only about objects in a class that can be archived."""
    from sharing_project.s3.archive import is_archived

    candidates = [i for i, e in enumerate(entries) if e.storage_class in ARCHIVABLE_STORAGE_CLASSES]
    with ThreadPoolExecutor(max_workers=_PARALLEL_S3_CALLS) as pool:
        states = pool.map(lambda i: is_archived(entries[i].source_uri), candidates)
        for index, archived in zip(candidates, states, strict=True):
            if archived:
                entries[index] = replace(entries[index], archived=True)
    return entries
