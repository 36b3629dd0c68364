"""A synthetic catalogue of any size, and the objects in S3 behind a chosen part of it.

For measuring the service at scale (issue 12). Everything is numbered, so a second run finds
its own rows and objects and changes nothing:

- libraries L9000001... (the demo's are L24...), in tumour/normal pairs, one sample each
  (MDX000001...), a subject per pair (SCALE-000001...), an individual per two subjects
  (SBJ50001..SBJ99999, then again from the first), ten projects (SCALE-01..SCALE-10);
- fastq list rows spread over Illumina runs of 8 lanes of 48 libraries; a library's rows of
  its second, third... round are on later runs, so (library, run, lane) stays unique;
- workflow runs 2025MMDD + 8 hex digits of their number, under
  s3://<bucket>/scale/analysis/<workflow>/<portalRunId>/;
- the "big" run of N objects: portalRunId 20241231 + N in 8 hex digits, so that runs of
  different sizes live side by side, each under its own prefix.

Every fastq row describes the tiny object `put_scale_objects` would write for it (a few bytes,
their MD5 the ETag), so the catalogue is the same with or without the objects in S3.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import math
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import Enum
from typing import TypeVar

from django.db import connection, models, transaction

from catalogue.models import Fastq, Individual, Library, Project, Sample, Subject, WorkflowRun
from catalogue.workflows import Workflow

BATCH = 2000
DEFAULT_BUCKET = "dsm-scale"
DEFAULT_THREADS = 32
LIBRARIES_PER_LANE = 48
LANES = 8
PROJECTS = 10
INDIVIDUALS = 49_999  # SBJ50001..SBJ99999: the five digits an individual id has
# --objects also writes the fastqs of the first libraries: up to this many, with up to this
# many fastq rows between them (a few libraries of a thousand rows each would be no "few").
FASTQ_OBJECT_LIBRARIES = 10
FASTQ_OBJECT_ROWS = 200
BIG_RUN_WORKFLOW = Workflow.ONCOANALYSER_WGTS_DNA
# Workflows of the numbered runs; the first three take a tumour/normal pair.
PAIRED = (Workflow.TUMOR_NORMAL, Workflow.ONCOANALYSER_WGTS_DNA, Workflow.SASH)
SINGLE = (Workflow.WTS, Workflow.RNASUM, Workflow.CTTSOV2)
RUN_WORKFLOWS = PAIRED + SINGLE
OUTPUT_FOLDERS = ("qc", "bam", "vcf/somatic", "logs")
# Safe but awkward: every 20th output is named like one of these.
AWKWARD_NAMES = (
    "part {i:06d} with spaces.txt",
    "résumé-{i:06d}-données.txt",
    "part+{i:06d}.txt",
    "part#{i:06d}.txt",
    "part-{i:06d} 100%.txt",
)

T = TypeVar("T")


@dataclass(frozen=True)
class ScaleSize:
    """How big a catalogue to make, and which objects to write."""

    libraries: int
    fastqs: int
    workflow_runs: int
    bucket: str = DEFAULT_BUCKET
    objects: int | None = None
    threads: int = DEFAULT_THREADS

    @property
    def subjects(self) -> int:
        return math.ceil(self.libraries / 2)

    @property
    def individuals(self) -> int:
        return min(math.ceil(self.subjects / 2), INDIVIDUALS)

    @property
    def projects(self) -> int:
        return min(PROJECTS, self.subjects)


@dataclass(frozen=True)
class PlannedObject:
    uri: str
    body: bytes
    storage_class: str = "STANDARD"

    @property
    def etag(self) -> str:
        return hashlib.md5(self.body).hexdigest()


@dataclass
class CatalogueCounts:
    libraries: int = 0
    fastqs: int = 0
    instrument_runs: int = 0
    workflow_runs: int = 0
    subjects: int = 0
    individuals: int = 0
    projects: int = 0

    def __str__(self) -> str:
        return (
            f"{self.libraries} libraries ({self.subjects} subjects, {self.individuals} "
            f"individuals, {self.projects} projects), {self.fastqs} fastq list rows on "
            f"{self.instrument_runs} instrument runs, {self.workflow_runs} workflow runs"
        )


@dataclass
class ObjectCounts:
    written: int = 0
    present: int = 0
    bytes_written: int = 0


@dataclass(frozen=True)
class SizeOption:
    """A whole-number option of `seed_scale`: its bounds, and why they are what they are."""

    name: str  # the command line's, without "--"
    default: int | None
    minimum: int
    maximum: int
    help: str

    @property
    def dest(self) -> str:
        return self.name.replace("-", "_")

    def problem(self, value: int | None) -> str | None:
        if value is None or self.minimum <= value <= self.maximum:
            return None
        return (
            f"--{self.name} must be a whole number from {self.minimum:,} to {self.maximum:,} "
            f"({self.help}); got {value}. Give one in that range"
            + (", or leave the option out." if self.default is None else ".")
        )


SIZE_OPTIONS = (
    SizeOption("libraries", 10_000, 1, 999_999, "libraries L9000001..., six digits"),
    SizeOption("fastqs", 40_000, 0, 9_999_999, "fastq list rows, each an R1 and an R2"),
    SizeOption("workflow-runs", 5_000, 0, 1_000_000, "numbered workflow runs"),
    SizeOption("objects", None, 1, 10_000_000, "outputs of the big run, written to S3"),
    SizeOption("job-objects", None, 1, 10_000_000, "objects of a finished pull, in the database"),
    SizeOption("threads", DEFAULT_THREADS, 1, 256, "parallel writes to S3"),
)


def option_problems(values: dict[str, int | None], bucket: str) -> list[str]:
    """What is wrong with the options, each naming its option and what to give instead."""
    from django.core.exceptions import ValidationError

    from sharing_project.s3.uris import parse_s3_uri

    problems = [p for o in SIZE_OPTIONS if (p := o.problem(values.get(o.dest)))]
    try:
        parse_s3_uri(f"s3://{bucket}/key")
    except ValidationError:
        problems.append(
            f"--bucket {bucket!r} is not a bucket name: give 3 to 63 lower-case letters, digits, "
            "dots and hyphens, starting and ending with a letter or digit."
        )
    return problems


# Ids --------------------------------------------------------------------------------------------


def library_id(number: int) -> str:
    return f"L9{number:06d}"


def sample_id(number: int) -> str:
    return f"MDX{number:06d}"


def subject_id(number: int) -> str:
    return f"SCALE-{number:06d}"


def individual_id(number: int) -> str:
    return f"SBJ{50_000 + number:05d}"


def project_id(number: int) -> str:
    return f"SCALE-{number:02d}"


@functools.lru_cache(maxsize=4096)  # asked for every fastq row; a run holds hundreds
def instrument_run_id(number: int) -> str:
    """A NovaSeq 6000 run folder's name: a date, run number and flow cell of its own."""
    day = date(2025, 1, 1) + timedelta(days=number % 365)
    return f"{day:%y%m%d}_A01999_{number % 10_000 + 1:04d}_ASC{number:07d}"


def portal_run_id(number: int) -> str:
    """The numbered runs' ids: a date of 2025, then the number in hex."""
    day = date(2025, 1, 1) + timedelta(days=number % 365)
    return f"{day:%Y%m%d}{number:08x}"


def big_run_id(objects: int) -> str:
    """The id of the run with `objects` outputs: 2024-12-31, never a numbered run's date."""
    return f"20241231{objects:08x}"


def big_run_prefix(bucket: str, objects: int) -> str:
    return f"s3://{bucket}/scale/analysis/{BIG_RUN_WORKFLOW.value}/{big_run_id(objects)}/"


# The catalogue ----------------------------------------------------------------------------------


def seed_scale_catalogue(size: ScaleSize) -> CatalogueCounts:
    """Upsert the whole synthetic catalogue in one transaction, in batches of BATCH rows.

    Steps: projects, individuals, subjects (and their individuals), samples, libraries (and
    their projects), fastq list rows, workflow runs (and their libraries); the big run when
    objects are asked for.
    """
    with transaction.atomic():
        _upsert(Project, (_project(n) for n in range(1, size.projects + 1)), "project_id")
        _upsert(
            Individual, (_individual(n) for n in range(1, size.individuals + 1)), "individual_id"
        )
        _upsert(
            Subject,
            (Subject(subject_id=subject_id(n)) for n in _numbers(size.subjects)),
            "subject_id",
        )
        _link_subjects(size)
        _upsert(Sample, (_sample(n) for n in _numbers(size.libraries)), "sample_id")
        _upsert_libraries(size)
        libraries = _library_pks(size.libraries)
        _upsert_fastqs(size, libraries)
        _upsert_workflow_runs(size, libraries)
        if size.objects:
            upsert_big_run(size.bucket, size.objects)
    return CatalogueCounts(
        libraries=size.libraries,
        fastqs=size.fastqs,
        instrument_runs=len({_placement(size, k)[1] for k in range(size.fastqs)}),
        workflow_runs=size.workflow_runs,
        subjects=size.subjects,
        individuals=size.individuals,
        projects=size.projects,
    )


def upsert_big_run(bucket: str, objects: int) -> WorkflowRun:
    """The workflow run whose output prefix holds `objects` objects (written or not)."""
    run_id = big_run_id(objects)
    _upsert(
        WorkflowRun,
        [
            WorkflowRun(
                portal_run_id=run_id,
                workflow_name=BIG_RUN_WORKFLOW,
                output_uri=big_run_prefix(bucket, objects),
                status=WorkflowRun.Status.SUCCEEDED,
                start_time=datetime(2024, 12, 31, 1, tzinfo=UTC),
                end_time=datetime(2024, 12, 31, 23, tzinfo=UTC),
            )
        ],
        "portal_run_id",
    )
    run = WorkflowRun.objects.get(portal_run_id=run_id)
    pair = Library.objects.filter(library_id__in=[library_id(1), library_id(2)])
    run.libraries.add(*pair)
    return run


def _numbers(count: int) -> range:
    return range(1, count + 1)


def _project(number: int) -> Project:
    return Project(project_id=project_id(number), name=f"Scale project {number}")


def _individual(number: int) -> Individual:
    return Individual(individual_id=individual_id(number), source="seed_scale")


def _individual_of(subject: int) -> int:
    return (subject - 1) // 2 % INDIVIDUALS + 1


def _link_subjects(size: ScaleSize) -> None:
    subjects = _pks(Subject, "subject_id", subject_id(1), subject_id(size.subjects))
    individuals = _pks(
        Individual, "individual_id", individual_id(1), individual_id(size.individuals)
    )
    link = Subject.individuals.through
    rows = (
        link(
            subject_id=subjects[subject_id(n)],
            individual_id=individuals[individual_id(_individual_of(n))],
        )
        for n in _numbers(size.subjects)
    )
    _upsert(link, rows, "subject", "individual")


def _sample(number: int) -> Sample:
    return Sample(
        sample_id=sample_id(number),
        external_sample_id=f"EXT-{number:06d}",
        source=Sample.Source.TISSUE if number % 2 else Sample.Source.BLOOD,
    )


def _upsert_libraries(size: ScaleSize) -> None:
    samples = _pks(Sample, "sample_id", sample_id(1), sample_id(size.libraries))
    subjects = _pks(Subject, "subject_id", subject_id(1), subject_id(size.subjects))
    _upsert(
        Library,
        (_library(n, samples, subjects) for n in _numbers(size.libraries)),
        "library_id",
    )
    libraries = _library_pks(size.libraries)
    projects = _pks(Project, "project_id", project_id(1), project_id(size.projects))
    link = Library.projects.through
    rows = (
        link(
            library_id=libraries[library_id(n)],
            project_id=projects[project_id(_subject_of(n) % size.projects + 1)],
        )
        for n in _numbers(size.libraries)
    )
    _upsert(link, rows, "library", "project")


def _subject_of(library: int) -> int:
    return (library + 1) // 2


def _library(number: int, samples: dict[str, int], subjects: dict[str, int]) -> Library:
    tumour = number % 2 == 1
    return Library(
        library_id=library_id(number),
        phenotype=Library.Phenotype.TUMOR if tumour else Library.Phenotype.NORMAL,
        type=Library.Type.WGS,
        assay="TsqNano",
        workflow=Library.WorkflowKind.RESEARCH,
        quality=Library.Quality.GOOD,
        coverage=80.0 if tumour else 40.0,
        sample_id=samples[sample_id(number)],
        subject_id=subjects[subject_id(_subject_of(number))],
    )


def _library_pks(count: int) -> dict[str, int]:
    return _pks(Library, "library_id", library_id(1), library_id(count))


def _placement(size: ScaleSize, row: int) -> tuple[int, str, int]:
    """Fastq row `row` (from 0): its library number, instrument run and lane. A library's
    rows of later rounds are on later runs."""
    index, round_ = row % size.libraries, row // size.libraries
    per_run = LIBRARIES_PER_LANE * LANES
    runs_per_round = math.ceil(size.libraries / per_run)
    run = round_ * runs_per_round + index // per_run
    lane = index % per_run // LIBRARIES_PER_LANE + 1
    return index + 1, instrument_run_id(run), lane


def fastq_objects(size: ScaleSize, row: int) -> tuple[PlannedObject, PlannedObject]:
    """The R1 and R2 objects of fastq row `row`, a few bytes each."""
    return _reads(size.bucket, row, *_placement(size, row))


def _reads(
    bucket: str, row: int, number: int, run: str, lane: int
) -> tuple[PlannedObject, PlannedObject]:
    library = library_id(number)
    storage = "DEEP_ARCHIVE" if row % 50 == 49 else "STANDARD"
    folder = f"s3://{bucket}/scale/primary/{run}/Lane_{lane}/{library}/"
    sample = (number - 1) % (LIBRARIES_PER_LANE * LANES) + 1
    r1, r2 = (
        PlannedObject(
            f"{folder}{library}_S{sample}_L00{lane}_R{read}_001.fastq.gz",
            f"@{library}:{run}:{lane} {read}:N:0\nACGT\n+\nFFFF\n".encode(),
            storage,
        )
        for read in (1, 2)
    )
    return r1, r2


def _index_of(number: int) -> str:
    digits = [(number >> (2 * i)) & 3 for i in range(8)]
    return "".join("ACGT"[d] for d in digits) + "+" + "".join("TGCA"[d] for d in digits)


def _fastq(size: ScaleSize, row: int, libraries: dict[str, int]) -> Fastq:
    number, run, lane = _placement(size, row)
    r1, r2 = _reads(size.bucket, row, number, run, lane)
    return Fastq(
        library_id=libraries[library_id(number)],
        instrument_run_id=run,
        lane=lane,
        index=_index_of(number),
        r1_uri=r1.uri,
        r1_size=len(r1.body),
        r1_etag=r1.etag,
        r1_storage_class=r1.storage_class,
        r2_uri=r2.uri,
        r2_size=len(r2.body),
        r2_etag=r2.etag,
        r2_storage_class=r2.storage_class,
    )


def _upsert_fastqs(size: ScaleSize, libraries: dict[str, int]) -> None:
    rows = (_fastq(size, row, libraries) for row in range(size.fastqs))
    _upsert(Fastq, rows, "library", "instrument_run_id", "lane")


def _workflow_run(size: ScaleSize, number: int) -> tuple[WorkflowRun, list[int]]:
    """Run `number` (from 0) and the numbers of its libraries (its subject's pair, or the
    tumour alone)."""
    workflow = RUN_WORKFLOWS[number % len(RUN_WORKFLOWS)]
    run_id = portal_run_id(number)
    started = datetime(2025, 1, 1, tzinfo=UTC) + timedelta(days=number % 365, hours=1)
    tumour = number % size.subjects * 2 + 1
    libraries = [tumour, tumour + 1] if workflow in PAIRED else [tumour]
    run = WorkflowRun(
        portal_run_id=run_id,
        workflow_name=workflow,
        output_uri=f"s3://{size.bucket}/scale/analysis/{workflow.value}/{run_id}/",
        status=WorkflowRun.Status.FAILED if number % 25 == 24 else WorkflowRun.Status.SUCCEEDED,
        start_time=started,
        end_time=started + timedelta(hours=8),
    )
    return run, [n for n in libraries if n <= size.libraries]


def _upsert_workflow_runs(size: ScaleSize, libraries: dict[str, int]) -> None:
    planned = (_workflow_run(size, n) for n in range(size.workflow_runs))
    link = WorkflowRun.libraries.through
    for chunk in chunked(planned, BATCH):
        _upsert(WorkflowRun, [run for run, _ in chunk], "portal_run_id")
        ids = [run.portal_run_id for run, _ in chunk]
        runs = dict(
            WorkflowRun.objects.filter(portal_run_id__in=ids).values_list("portal_run_id", "pk")
        )
        rows = [
            link(workflowrun_id=runs[run.portal_run_id], library_id=libraries[library_id(n)])
            for run, numbers in chunk
            for n in numbers
        ]
        _upsert(link, rows, "workflowrun", "library")


def _pks(model: type[models.Model], name: str, first: str, last: str) -> dict[str, int]:
    """Natural id -> pk of the numbered rows between two ids (same width: text order)."""
    rows = model.objects.filter(**{f"{name}__gte": first, f"{name}__lte": last})
    return dict(rows.values_list(name, "pk"))


def _upsert(model: type[models.Model], rows: Iterable[models.Model], *unique: str) -> None:
    """Insert rows, or update every other field of the row with the same unique fields (or
    leave it, when there is no other field). On PostgreSQL by COPY into a temporary table and
    one INSERT ... ON CONFLICT from it: bulk_create spends most of its time preparing each
    field of each row in Python, which made the default catalogue take twice as long."""
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    update = [f for f in fields if f.name not in unique]
    if connection.vendor == "postgresql":
        _copy_upsert(model, fields, rows, unique, update)
        return
    for chunk in chunked(rows, BATCH):
        if update:
            model.objects.bulk_create(
                chunk,
                update_conflicts=True,
                unique_fields=list(unique),
                update_fields=[f.name for f in update],
            )
        else:
            model.objects.bulk_create(chunk, ignore_conflicts=True)


def _copy_upsert(
    model: type[models.Model],
    fields: list[models.Field],
    rows: Iterable[models.Model],
    unique: tuple[str, ...],
    update: list[models.Field],
) -> None:
    quote = connection.ops.quote_name
    table, staging = quote(model._meta.db_table), quote(f"seed_{model._meta.db_table}")
    columns = ", ".join(quote(f.column) for f in fields)
    conflict = ", ".join(quote(model._meta.get_field(name).column) for name in unique)
    action = "DO NOTHING"
    if update:
        assignments = (f"{quote(f.column)} = EXCLUDED.{quote(f.column)}" for f in update)
        action = "DO UPDATE SET " + ", ".join(assignments)
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TEMPORARY TABLE {staging} AS SELECT {columns} FROM {table} WITH NO DATA"  # noqa: S608
        )
        with cursor.cursor.copy(f"COPY {staging} ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row([_plain(getattr(row, f.attname)) for f in fields])
        cursor.execute(
            f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {staging} "  # noqa: S608
            f"ON CONFLICT ({conflict}) {action}"
        )
        cursor.execute(f"DROP TABLE {staging}")


def _plain(value: object) -> object:
    """A choice as its value: psycopg would write an enum member's name."""
    return value.value if isinstance(value, Enum) else value


def chunked(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """Lists of up to `size` items, taken lazily (itertools.batched is Python 3.12's)."""
    iterator = iter(items)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


# The objects ------------------------------------------------------------------------------------


def output_key(index: int) -> str:
    """The key, below the big run's prefix, of its output `index` (from 0): folders of 1000
    samples' outputs, nested up to three deep; every 20th has an awkward name."""
    folder = f"sample-{index // 1000 + 1:04d}/{OUTPUT_FOLDERS[index % len(OUTPUT_FOLDERS)]}/"
    if index % 20 == 19:
        return folder + AWKWARD_NAMES[index // 20 % len(AWKWARD_NAMES)].format(i=index)
    return folder + f"part-{index:06d}.txt"


def big_run_objects(bucket: str, count: int) -> Iterator[PlannedObject]:
    """The big run's outputs, one at a time: a line of distinct text each."""
    prefix, run_id = big_run_prefix(bucket, count), big_run_id(count)
    for index in range(count):
        yield PlannedObject(prefix + output_key(index), f"{run_id} output {index}\n".encode())


def fastq_object_libraries(size: ScaleSize) -> int:
    """How many of the first libraries have their fastqs written with the big run."""
    rows_per_library = math.ceil(size.fastqs / size.libraries)
    if not rows_per_library:
        return 0
    return min(FASTQ_OBJECT_LIBRARIES, size.libraries, FASTQ_OBJECT_ROWS // rows_per_library)


def fastq_objects_of_first_libraries(size: ScaleSize) -> Iterator[PlannedObject]:
    """The R1/R2 objects of every fastq row of the first `fastq_object_libraries` libraries."""
    first = fastq_object_libraries(size)
    for round_start in range(0, size.fastqs, size.libraries):
        for row in range(round_start, min(round_start + first, size.fastqs)):
            yield from fastq_objects(size, row)


Progress = Callable[[int, int], None]


def put_scale_objects(size: ScaleSize, progress: Progress | None = None) -> ObjectCounts:
    """Write the big run's outputs and the first libraries' fastqs that S3 does not hold yet.

    Steps: create the bucket if needed; list the big run's prefix and the fastq prefix once;
    write (in `size.threads` threads sharing one client) every planned object whose key is
    missing or holds other bytes; report counts.
    """
    from sharing_project.s3.objects import ensure_bucket, list_objects

    ensure_bucket(size.bucket)
    existing = {
        item.uri: item.etag
        for prefix in (big_run_prefix(size.bucket, size.objects or 0), _fastq_prefix(size))
        for item in list_objects(prefix)
    }
    planned = itertools.chain(
        big_run_objects(size.bucket, size.objects or 0), fastq_objects_of_first_libraries(size)
    )
    counts = ObjectCounts()
    missing = _missing(planned, existing, counts)
    with ThreadPoolExecutor(max_workers=size.threads) as pool:
        for chunk in chunked(missing, 1000):
            for written in pool.map(_put, chunk):
                counts.written += 1
                counts.bytes_written += written
            if progress:
                progress(counts.written, counts.present)
    return counts


def _fastq_prefix(size: ScaleSize) -> str:
    return f"s3://{size.bucket}/scale/primary/"


def _missing(
    planned: Iterable[PlannedObject], existing: dict[str, str], counts: ObjectCounts
) -> Iterator[PlannedObject]:
    for item in planned:
        if existing.get(item.uri) == item.etag:
            counts.present += 1
        else:
            yield item


def _put(item: PlannedObject) -> int:
    from sharing_project.s3.objects import put_object

    put_object(item.uri, item.body, storage_class=item.storage_class)
    return len(item.body)
