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
  secondary-analysis/<workflow>/<portalRunId>/<path below the output prefix>; the two top
  folders are the share's primaryDataPathPrefix and secondaryAnalysisPathPrefix when given.

The database work is a fixed number of queries whatever the number of ids.
"""

from __future__ import annotations

import queue
import re
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from itertools import islice

from django.db.models import QuerySet

from catalogue.models import Fastq, Library, WorkflowRun
from shares.contract import (
    METADATA_LISTS,
    PRIMARY_PREFIX_DEFAULT,
    SECONDARY_PREFIX_DEFAULT,
    DataType,
    path_prefixes,
)
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
PAGE_SIZE = 1000  # objects resolved, checked and recorded at a time


@dataclass(frozen=True)
class Selection:
    """What a configuration selects, as queries (nothing is read until they are iterated)."""

    fastqs: QuerySet[Fastq]
    workflow_runs: QuerySet[WorkflowRun]


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
    """The catalogue rows a configuration selects: two queries, run when iterated."""
    libraries = selected_libraries(config)
    data_types = config.get("dataTypeList", [])
    fastqs = Fastq.objects.none()
    if FASTQ in data_types and (libraries is not None or config.get("instrumentRunIdList")):
        fastqs = Fastq.objects.select_related("library")
        if libraries is not None:
            fastqs = fastqs.filter(library__in=libraries)
        if config.get("instrumentRunIdList"):
            fastqs = fastqs.filter(instrument_run_id__in=config["instrumentRunIdList"])
    runs = WorkflowRun.objects.none()
    if SECONDARY in data_types:
        if config.get("portalRunIdList"):
            runs = WorkflowRun.objects.filter(portal_run_id__in=config["portalRunIdList"])
        elif libraries is not None:
            runs = WorkflowRun.objects.filter(
                libraries__in=libraries, status=WorkflowRun.Status.SUCCEEDED
            ).exclude(portal_run_id__in=config.get("portalRunIdExclusionList", []))
            if config.get("secondaryAnalysisWorkflowList"):
                runs = runs.filter(workflow_name__in=config["secondaryAnalysisWorkflowList"])
        runs = runs.distinct()
    return Selection(fastqs.order_by("r1_uri"), runs.order_by("portal_run_id"))


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
    """Every object a configuration shares, de-duplicated, safe, sorted by relative path, in
    memory: for a look at a small selection. A job never holds its manifest whole: it records
    `resolve_pages` as they come (jobs.manifest.record_resolution), applying the same rules in
    the database."""
    entries = [entry for page in resolve_pages(config) for entry in page]
    return unique_entries(entries)


def resolve_pages(config: dict, page_size: int = PAGE_SIZE) -> Iterator[list[ManifestEntry]]:
    """The objects a configuration shares, a page at a time, in no particular order; each
    page confirmed in S3, its paths checked and its archived objects marked. The same object
    may come twice (a fastq under a workflow run's output prefix), fastqs first.

    Steps: the selected fastq rows, `page_size` objects at a time, become their R1/R2 objects,
    confirmed by listing only the stretch of each folder that holds them; then every selected
    workflow run's output prefix is listed, several at once, page by page. A problem found
    (objects gone, unsafe keys) raises once every page of its kind has been seen, naming the
    first hundred.
    """
    selection = select(config)
    fastq_folder, secondary_folder = path_prefixes(config)
    problems = _Problems()
    fastqs = selection.fastqs.iterator(chunk_size=page_size)
    while rows := list(islice(fastqs, max(page_size // 2, 1))):
        entries = [entry for fastq in rows for entry in fastq_entries(fastq, fastq_folder)]
        page = _confirm_in_s3(entries, problems)
        yield _checked(page, problems)
    problems.raise_missing()
    for page in _listed(selection.workflow_runs.iterator(), page_size, secondary_folder):
        yield _checked(page, problems)
    problems.raise_unsafe()


class _Problems:
    """What was wrong with the pages seen so far: counted in full, the first 100 kept."""

    def __init__(self) -> None:
        self.missing: list[str] = []
        self.missing_count = 0
        self.unsafe: list[dict] = []
        self.unsafe_count = 0

    def add_missing(self, uris: list[str]) -> None:
        self.missing_count += len(uris)
        self.missing += uris[: 100 - len(self.missing)]

    def add_unsafe(self, found: list[dict]) -> None:
        self.unsafe_count += len(found)
        self.unsafe += found[: 100 - len(self.unsafe)]

    def raise_missing(self) -> None:
        if self.missing_count:
            raise MissingSourceObjects(
                f"{self.missing_count} fastq object(s) in the catalogue are no longer in S3 "
                f"(first: {self.missing[0]}); re-import the catalogue, or leave their "
                "libraries or runs out.",
                {"objects": self.missing},
            )

    def raise_unsafe(self) -> None:
        if self.unsafe_count:
            raise UnsafeObjectKey(
                f"{self.unsafe_count} object(s) have keys that cannot be shared safely "
                "(absolute, '..', empty segments or control characters); rename them or "
                "exclude their runs.",
                {"objects": self.unsafe},
            )


def _checked(page: list[ManifestEntry], problems: _Problems) -> list[ManifestEntry]:
    problems.add_unsafe(
        [
            {"sourceUri": entry.source_uri, "reason": reason}
            for entry in page
            if (reason := unsafe_reason(entry.relative_path))
        ]
    )
    return _mark_archived(page)


def fastq_entries(fastq: Fastq, folder: str = PRIMARY_PREFIX_DEFAULT) -> list[ManifestEntry]:
    reads = [
        (fastq.r1_uri, fastq.r1_size, fastq.r1_etag, fastq.r1_storage_class),
    ]
    checksums = [(fastq.r1_md5, fastq.r1_sha256)]
    if fastq.r2_uri:
        reads.append((fastq.r2_uri, fastq.r2_size, fastq.r2_etag, fastq.r2_storage_class))
        checksums.append((fastq.r2_md5, fastq.r2_sha256))
    library_id = fastq.library.library_id
    return [
        ManifestEntry(
            kind="fastq",
            source_uri=uri,
            relative_path=fastq_relative_path(
                fastq.instrument_run_id, fastq.lane, library_id, uri, folder
            ),
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


def _confirm_in_s3(entries: list[ManifestEntry], problems: _Problems) -> list[ManifestEntry]:
    """The catalogue's fastq objects as S3 has them now, from listings (in parallel, not one
    HEAD per object) of only the stretch of each folder that holds them. An object that has
    gone is a problem to report; one replaced since the import is shared with its current
    size, ETag and storage class, without the catalogue's checksums, which were of the bytes
    it replaced."""
    wanted: dict[str, list[str]] = {}
    for entry in entries:
        folder, _name = entry.source_uri.rsplit("/", 1)
        wanted.setdefault(folder + "/", []).append(entry.source_uri)
    with ThreadPoolExecutor(max_workers=_PARALLEL_S3_CALLS) as pool:
        live = {}
        for found in pool.map(_listed_stretch, wanted.items()):
            live.update(found)
    problems.add_missing([e.source_uri for e in entries if e.source_uri not in live])
    return [_as_live(e, live[e.source_uri]) for e in entries if e.source_uri in live]


def _listed_stretch(folder_and_uris: tuple[str, list[str]]) -> dict:
    """The objects of `uris` found in `folder`, listing from just before the first of them
    and stopping after the last (S3 lists in key order)."""
    from sharing_project.s3.objects import list_objects

    folder, uris = folder_and_uris
    wanted = set(uris)
    first, last = min(uris), max(uris)
    start_after = parse_s3_uri(first).key[:-1]  # a proper prefix sorts before the key
    found = {}
    for item in list_objects(folder, start_after=start_after):
        if item.uri in wanted:
            found[item.uri] = item
        if item.uri >= last:
            break
    return found


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


def _listed(
    runs: QuerySet[WorkflowRun], page_size: int, folder: str
) -> Iterator[list[ManifestEntry]]:
    """The objects under every run's output prefix, in pages: the prefixes are listed in
    threads, several at once, each handing its pages over through a short queue (then a mark
    that it is done), so only a few pages wait in memory however many objects there are."""
    runs = list(runs)
    if not runs:
        return
    pages: queue.Queue[list[ManifestEntry] | None] = queue.Queue(maxsize=2 * _PARALLEL_S3_CALLS)
    stop = threading.Event()

    def hand_over(page: list[ManifestEntry] | None) -> None:
        while not stop.is_set():
            try:
                pages.put(page, timeout=0.2)
                return
            except queue.Full:
                continue

    def list_run(run: WorkflowRun) -> None:
        try:
            for page in _batched(_workflow_run_entries(run, folder), page_size):
                if stop.is_set():
                    return
                hand_over(page)
        finally:
            hand_over(None)

    with ThreadPoolExecutor(max_workers=_PARALLEL_S3_CALLS) as pool:
        listings = [pool.submit(list_run, run) for run in runs]
        try:
            done = 0
            while done < len(listings):
                page = pages.get()
                if page is None:
                    done += 1
                else:
                    yield page
            for listing in listings:
                listing.result()  # a listing's error is the resolution's
        finally:
            stop.set()


def _batched(entries: Iterator[ManifestEntry], size: int) -> Iterator[list[ManifestEntry]]:
    while page := list(islice(entries, size)):
        yield page


def _workflow_run_entries(run: WorkflowRun, folder: str) -> Iterator[ManifestEntry]:
    from sharing_project.s3.objects import list_objects

    prefix = parse_s3_uri(run.output_uri, prefix=True)
    for item in list_objects(run.output_uri):
        if item.key.endswith("/"):
            continue  # folder markers are not files
        yield ManifestEntry(
            kind="secondary",
            source_uri=item.uri,
            relative_path=secondary_relative_path(
                run.workflow_name, run.portal_run_id, prefix.key, item.key, folder
            ),
            size=item.size,
            etag=item.etag,
            storage_class=item.storage_class,
            portal_run_id=run.portal_run_id,
            workflow_name=run.workflow_name,
        )


def unique_entries(entries: list[ManifestEntry]) -> list[ManifestEntry]:
    """Each object once (the first seen), sorted by relative path; two objects that would be
    written to one relative path refuse the share."""
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


def fastq_relative_path(
    instrument_run_id: str,
    lane: int,
    library_id: str,
    uri: str,
    folder: str = PRIMARY_PREFIX_DEFAULT,
) -> str:
    """Where a fastq's object lands, the same for push and pull:
    `<folder>/<instrumentRunId>/Lane_<lane>/<libraryId>/<file name>` (the URI's last segment),
    the folder `fastq` unless the share's primaryDataPathPrefix says otherwise."""
    return f"{folder}/{instrument_run_id}/Lane_{lane}/{library_id}/{uri.rsplit('/', 1)[-1]}"


def secondary_relative_path(
    workflow: str,
    portal_run_id: str,
    prefix_key: str,
    key: str,
    folder: str = SECONDARY_PREFIX_DEFAULT,
) -> str:
    """Where a workflow run's object lands: `<folder>/<workflow>/<portalRunId>/` and the key
    below the run's output prefix, the folder `secondary-analysis` unless the share's
    secondaryAnalysisPathPrefix says otherwise. The result may be unsafe (a key with `..` or a
    control character): every path passes unsafe_reason() before it is shared."""
    if not key.startswith(prefix_key):
        raise ValueError(f"{key!r} is not below the run's output prefix {prefix_key!r}")
    return f"{folder}/{workflow}/{portal_run_id}/{key[len(prefix_key) :]}"


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
