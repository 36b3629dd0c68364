"""`python -m bench.scale`: what a share costs as it grows (issue 12), on PostgreSQL.

Steps: start moto with a workflow run of N objects for each size N in its store (the objects
`seed_scale --objects N` writes, put there directly: bench/moto_preloaded.py); create a fresh
PostgreSQL database (dropped at the end); seed the catalogue (`seed_scale`: 10,000 libraries,
40,000 fastq rows, 5,000 workflow runs). Then for each size: list the run's prefix alone; then, each
with a fresh `manage.py qcluster` of 2 workers whose processes are sampled for resident memory
every 100 ms: a push's dry run, the push's launch through the API (timed in this process), the
push, the same copy by s5cmd, and a pull. With --two-clusters, the push once more with two
clusters. Then the catalogue alone: the selection of 1,000 and of 10,000 libraries, its time
and its query count. Prints Markdown tables on stdout (progress on stderr).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import logging
import os
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

from bench import harness
from bench.harness import progress, table

SIZES = "10000,100000,300000"
QUICK_SIZES = "2000,10000"
SOURCE_BUCKET = "dsm-scale"
DEST_BUCKET = "dsm-scale-dest"
JOB_TIMEOUT = 3600.0
ADMIN_DATABASE = "postgres://postgres@127.0.0.1:5432/postgres"


@dataclasses.dataclass
class Phase:
    """One measured step at one size."""

    seconds: float
    worker_mib: float = 0.0  # the largest resident memory of one process of the cluster
    cluster_mib: float = 0.0  # the largest proportional memory (PSS) of its processes together
    requests: int = 0  # S3 requests moto served meanwhile


@dataclasses.dataclass
class Size:
    objects: int
    listing: float = 0.0
    phases: dict[str, Phase] = dataclasses.field(default_factory=dict)
    launch_ms: float = 0.0
    s5cmd_failed: int = 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sizes = [int(n) for n in args.sizes.split(",")]
    push_sizes = {int(n) for n in (args.push_sizes or args.sizes).split(",")}
    tools = harness.Tools.find(args.tools_venv)
    load = os.getloadavg()
    preloaded = functools.partial(moto_with_objects, sizes)
    with (
        fresh_database(args.database) as url,
        harness.session("dsm-bench-scale-", url, preloaded) as (scratch, endpoint, _pid),
    ):
        logging.getLogger("django-q").setLevel(logging.WARNING)
        from django.conf import settings
        from django.core.management import call_command

        from sharing_project.s3.objects import ensure_bucket

        call_command("migrate", verbosity=0, interactive=False)
        ensure_bucket(DEST_BUCKET)
        ensure_bucket(settings.SHARING_BUCKET)
        progress("Seeding the catalogue.")
        call_command("seed_scale", verbosity=0)
        user, token = operator()
        bench = Bench(
            scratch, endpoint, tools, user, token, args.two_clusters, push_sizes, args.push_only
        )
        results = [measure(bench, n) for n in sizes]
        catalogue = catalogue_rows()
        about = {
            "Service": f"{harness.git_version('jobs', 'shares', 'sharing_project', 'catalogue')}; "
            "PostgreSQL, django-q2's ORM broker, a fresh `manage.py qcluster` of 2 workers per "
            "step; memory sampled every 100 ms from /proc",
            "Tools": tools.versions(),
            "Data": "one workflow run of N objects of a few bytes each (seed_scale --objects N), "
            "nested folders, one object in 20 with an awkward name",
        }
    harness.emit(
        [
            "## Scale",
            "",
            *harness.facts(load, about),
            *size_tables(results),
            "### The catalogue alone (no S3)",
            "",
            *table(["libraries", "fastq rows", "workflow runs", "s", "queries"], catalogue),
        ],
        args.output,
    )
    return 0


def moto_with_objects(sizes: list[int], port: int) -> list[str]:
    """moto's server with every size's big run already in its store (bench.moto_preloaded)."""
    command = [sys.executable, "-m", "bench.moto_preloaded", str(port), SOURCE_BUCKET]
    return command + [str(n) for n in sizes]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__)
    parser.add_argument("--sizes", default=SIZES, help="objects in the shared run, per size")
    parser.add_argument("--quick", action="store_true", help=f"--sizes {QUICK_SIZES}")
    parser.add_argument(
        "--million", action="store_true", help="add 1,000,000 objects (moto lists it slowly)"
    )
    parser.add_argument(
        "--push-sizes",
        help="the sizes at which to push and run s5cmd (default: every size); moto copies "
        "about 100 objects a second here",
    )
    parser.add_argument(
        "--two-clusters",
        action="store_true",
        help="also push with two clusters, at the smallest push size",
    )
    parser.add_argument(
        "--push-only",
        action="store_true",
        help="at each size only the dry run, the launch and the push (no listing alone, "
        "s5cmd or pull): the push's memory at a size where the rest was measured already",
    )
    parser.add_argument("--database", default=ADMIN_DATABASE, help="where to create the database")
    parser.add_argument("--tools-venv", type=Path, default=harness.ROOT / ".venv-bench")
    parser.add_argument("--output", type=Path, help="also write the tables to this file")
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes = QUICK_SIZES
    if args.million:
        args.sizes += ",1000000"
    return args


@contextlib.contextmanager
def fresh_database(admin_url: str, prefix: str = "dsm_bench_scale") -> Iterator[str]:
    """A new PostgreSQL database beside `admin_url`'s, dropped afterwards."""
    import psycopg

    name = f"{prefix}_{os.getpid()}"
    with psycopg.connect(admin_url.replace("postgres://", "postgresql://"), autocommit=True) as db:
        db.execute(f'CREATE DATABASE "{name}"')
    try:
        yield admin_url.rsplit("/", 1)[0] + "/" + name
    finally:
        with psycopg.connect(
            admin_url.replace("postgres://", "postgresql://"), autocommit=True
        ) as db:
            db.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def operator() -> tuple[object, str]:
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    from sharing_project.roles import OPERATORS, ensure_groups

    user = get_user_model().objects.create_user("bench-operator", is_staff=True)
    user.groups.add(ensure_groups()[OPERATORS])
    return user, Token.objects.create(user=user).key


# --- one size -------------------------------------------------------------------------------


@dataclasses.dataclass
class Bench:
    scratch: Path
    endpoint: str
    tools: harness.Tools
    user: object
    token: str
    two_clusters: bool
    push_sizes: set[int]
    push_only: bool = False

    @contextlib.contextmanager
    def clusters(self, count: int = 1) -> Iterator[list[subprocess.Popen]]:
        from tests.support.cluster import start_cluster

        logs = [self.scratch / f"cluster-{i}-{uuid.uuid4().hex[:6]}.log" for i in range(count)]
        started = [start_cluster(self.endpoint, log, Q_CLUSTER_WORKERS="2") for log in logs]
        try:
            for log in logs:  # timed work starts once every cluster polls the queue
                deadline = time.monotonic() + 60
                while "] running." not in log.read_text() and time.monotonic() < deadline:
                    time.sleep(0.1)
            yield started
        finally:
            for cluster, log in zip(started, logs, strict=True):
                stop_cluster(cluster, log)


def stop_cluster(cluster: subprocess.Popen, log: Path, grace: float = 120.0) -> None:
    """Stop a cluster as systemd would (SIGTERM: it finishes the tasks in hand; SIGKILL after
    `grace` seconds), showing the end of its log if it had to be killed."""
    from tests.support.cluster import stop

    try:
        stop(cluster, grace)
    except subprocess.TimeoutExpired:
        progress(f"  a cluster still ran {grace:.0f} s after SIGTERM: killed. Its log ends:")
        progress(log.read_text()[-4000:])


def measure(bench: Bench, objects: int) -> Size:
    from catalogue.scale import big_run_id, big_run_prefix, upsert_big_run
    from jobs.services import abort_job

    upsert_big_run(SOURCE_BUCKET, objects)  # its objects are in moto's store already
    size = Size(objects)
    if not bench.push_only:
        size.listing = listing_seconds(big_run_prefix(SOURCE_BUCKET, objects))
        progress(f"  listing alone {size.listing:.1f} s")
    run_id = big_run_id(objects)
    destination = f"s3://{DEST_BUCKET}/push-{objects}-{uuid.uuid4().hex[:8]}/"
    push = config(run_id, "push", destination)
    size.phases["dry run"] = run_job(bench, lambda: launch(push, dryrun=True, user=bench.user))
    job, size.launch_ms = launched_push(bench, push)
    if objects not in bench.push_sizes:
        abort_job(job, bench.user)  # launched only to time the launch: no worker may run it
    else:
        size.phases["push"] = run_job(bench, lambda: job)
    if bench.push_only:
        return reported(size)
    if objects in bench.push_sizes:
        size.phases["s5cmd cp"], size.s5cmd_failed = s5cmd_copy(
            bench, big_run_prefix(SOURCE_BUCKET, objects)
        )
    size.phases["pull"] = run_job(
        bench, lambda: launch(config(run_id, "pull"), dryrun=False, user=bench.user)
    )
    if bench.two_clusters and objects == min(bench.push_sizes):
        again = config(
            run_id, "push", f"s3://{DEST_BUCKET}/push2-{objects}-{uuid.uuid4().hex[:8]}/"
        )
        run_job(bench, lambda: launch(again, dryrun=True, user=bench.user))
        size.phases["push, 2 clusters"] = run_job(
            bench, lambda: launch(again, dryrun=False, user=bench.user), clusters=2
        )
    return reported(size)


def reported(size: Size) -> Size:
    for name, phase in size.phases.items():
        progress(f"  {name}: {phase.seconds:.1f} s, {phase.worker_mib:.0f} MiB per worker")
    return size


def config(run_id: str, share_type: str, destination: str = "") -> dict:
    from shares.validation import LaunchSerializer

    payload = {
        "portalRunIdList": [run_id],
        "dataTypeList": ["SecondaryAnalysis"],
        "shareType": share_type,
    }
    if destination:
        payload["shareDestination"] = destination
    serializer = LaunchSerializer(data=payload)
    serializer.is_valid(raise_exception=True)
    return serializer.normalised_config


def launch(config_: dict, *, dryrun: bool, user) -> object:
    from jobs.services import launch_job

    return launch_job(config_, dryrun=dryrun, user=user)


def api_launch(bench: Bench, config_: dict) -> tuple[object, float]:
    """POST /api/v1/jobs as an operator's automation would (token, JSON), in this process:
    returns the job and how long the request took."""
    from rest_framework.test import APIClient

    from jobs.models import Job

    client = APIClient(HTTP_HOST="127.0.0.1")  # a host ALLOWED_HOSTS has
    client.credentials(HTTP_AUTHORIZATION=f"Token {bench.token}")
    body = {
        "portalRunIdList": config_["portalRunIdList"],
        "dataTypeList": config_["dataTypeList"],
        "shareType": "push",
        "shareDestination": config_["shareDestination"],
    }
    started = time.perf_counter()
    response = client.post("/api/v1/jobs", body, format="json")
    seconds = time.perf_counter() - started
    if response.status_code != 202:
        raise RuntimeError(f"launch refused: {response.status_code} {response.content!r}")
    return Job.objects.get(pk=response.json()["id"]), seconds


def launched_push(bench: Bench, config_: dict, times: int = 3) -> tuple[object, float]:
    """The push launched `times` through the API while no worker runs (all but the last
    aborted before they start): the last job and the median milliseconds a launch took."""
    from jobs.services import abort_job

    launches = [api_launch(bench, config_) for _ in range(times)]
    for job, _seconds in launches[:-1]:
        abort_job(job, bench.user)
    return launches[-1][0], statistics.median(s for _job, s in launches) * 1000


def run_job(bench: Bench, start: Callable[[], object], clusters: int = 1) -> Phase:
    """Start fresh clusters, launch a job with `start`, wait for it to succeed; its wall time
    from launch to the end, and the clusters' memory meanwhile."""
    with bench.clusters(clusters) as started:
        watch = MemoryWatch([cluster.pid for cluster in started])
        watch.start()
        served = requests_served(bench.endpoint)
        began = time.perf_counter()
        job = start()
        wait_for(bench, job)
        seconds = time.perf_counter() - began
        served = requests_served(bench.endpoint) - served
        worker, together = watch.finish()
    show_memory_beside_log(job, watch.growth)
    return Phase(seconds, worker, together, served)


def show_memory_beside_log(job, growth: list[tuple[str, int, int]]) -> None:
    """On stderr, in time order: the job's log lines and each step up of the largest
    process's memory, so a growth can be put down to the step the job was in."""
    from jobs.models import JobLogLine

    lines = [
        (f"{line.at:%H:%M:%S}", f"log: {line.message[:100]}")
        for line in JobLogLine.objects.filter(job=job).order_by("at", "pk")
    ]
    lines += [(at, f"memory: pid {pid} at {rss / 2**20:.0f} MiB") for at, pid, rss in growth]
    for at, text in sorted(lines, key=lambda line: line[0]):
        progress(f"  {at} {text}")


def requests_served(endpoint: str) -> int:
    """How many S3 requests moto has served so far (bench/moto_preloaded.py counts them)."""
    with urllib.request.urlopen(f"{endpoint}/_bench/requests", timeout=10) as answer:  # noqa: S310
        return int(answer.read())


def wait_for(bench: Bench, job) -> None:
    from jobs.models import TERMINAL_STATUSES, Job

    deadline = time.monotonic() + JOB_TIMEOUT
    while (status := Job.objects.values_list("status", flat=True).get(pk=job.pk)) not in (
        TERMINAL_STATUSES
    ) and time.monotonic() < deadline:
        time.sleep(0.1)
    if status != "SUCCEEDED":
        job.refresh_from_db()
        logs = "".join(p.read_text()[-3000:] for p in bench.scratch.glob("cluster-*.log"))
        raise RuntimeError(f"job {job.pk} is {status}: {job.error_message}\n{logs}")


def listing_seconds(prefix_uri: str) -> float:
    from sharing_project.s3.objects import list_objects

    started = time.perf_counter()
    count = sum(1 for _ in list_objects(prefix_uri))
    seconds = time.perf_counter() - started
    progress(f"  listed {count} objects")
    return seconds


def s5cmd_copy(bench: Bench, prefix_uri: str) -> tuple[Phase, int]:
    """s5cmd's copy of the prefix, and how many objects it could not copy: on moto it fails
    the keys with a space or a '%' (its copy-source header is not what moto decodes)."""
    destination = f"s3://{DEST_BUCKET}/s5cmd-{uuid.uuid4().hex[:8]}/"
    command = bench.tools.s5cmd_cp(bench.endpoint, prefix_uri, destination)
    served = requests_served(bench.endpoint)
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    served = requests_served(bench.endpoint) - served
    failed = sum(1 for line in result.stderr.splitlines() if line.startswith("ERROR"))
    if result.returncode != 0 and not failed:
        raise RuntimeError(f"s5cmd exited {result.returncode}: {result.stderr[-3000:]}")
    return Phase(seconds, requests=served), failed


def proportional_size(smaps_rollup: Path) -> int:
    for line in smaps_rollup.read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1]) * 1024
    raise ValueError(f"no Pss in {smaps_rollup}")


class MemoryWatch(threading.Thread):
    """The memory of every process in the given sessions (a cluster and its workers), sampled
    every 100 ms: the largest resident size of one process, and the largest proportional size
    (PSS) of all together. Each time the largest process grows by GROWTH more, `growth`
    records when, which process and how much, to be read beside the job's log."""

    GROWTH = 8 * 2**20

    def __init__(self, sessions: list[int]):
        super().__init__(daemon=True)
        self.sessions = set(sessions)
        self.stop = threading.Event()
        self.worker = self.together = 0
        self.growth: list[tuple[str, int, int]] = []  # (UTC time, pid, resident bytes)
        self.page = os.sysconf("SC_PAGE_SIZE")

    def run(self) -> None:
        while not self.stop.wait(0.1):
            sizes = list(self.sample())
            if not sizes:
                continue
            pid, rss, _pss = max(sizes, key=lambda size: size[1])
            if not self.growth or rss >= self.growth[-1][2] + self.GROWTH:
                self.growth.append((time.strftime("%H:%M:%S", time.gmtime()), pid, rss))
            self.worker = max(self.worker, rss)
            self.together = max(self.together, sum(pss for _pid, _rss, pss in sizes))

    def sample(self) -> Iterator[tuple[int, int, int]]:
        """(pid, resident, proportional bytes) of each process: the proportional size shares
        the pages a forked worker still shares with its parent between them, so that the sum
        is what the cluster really holds."""
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                stat = Path(entry.path, "stat").read_text().rsplit(")", 1)[1].split()
                if int(stat[3]) in self.sessions:
                    rss = int(Path(entry.path, "statm").read_text().split()[1]) * self.page
                    pss = proportional_size(Path(entry.path, "smaps_rollup"))
                    yield int(entry.name), rss, pss
            except (OSError, IndexError, ValueError):
                continue  # it exited meanwhile

    def finish(self) -> tuple[float, float]:
        self.stop.set()
        self.join()
        return self.worker / 2**20, self.together / 2**20


# --- the catalogue alone --------------------------------------------------------------------


def catalogue_rows() -> list[list[object]]:
    """The selection of one project's libraries and of all ten projects', with both data types,
    read as resolution reads it (every fastq row turned into its objects), without S3."""
    from catalogue.models import Project

    projects = list(Project.objects.filter(project_id__startswith="SCALE-").order_by("project_id"))
    return [selection_row([p.project_id for p in chosen]) for chosen in (projects[:1], projects)]


def selection_row(project_ids: list[str]) -> list[object]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from catalogue.models import Library
    from shares.resolve import fastq_entries, select

    config_ = {"projectIdList": project_ids, "dataTypeList": ["Fastq", "SecondaryAnalysis"]}
    with CaptureQueriesContext(connection) as queries:
        started = time.perf_counter()
        selection = select(config_)
        fastqs = sum(1 for f in selection.fastqs.iterator(chunk_size=2000) if fastq_entries(f))
        runs = sum(1 for _ in selection.workflow_runs.iterator(chunk_size=2000))
        seconds = time.perf_counter() - started
    libraries = Library.objects.filter(projects__project_id__in=project_ids).distinct().count()
    return [libraries, fastqs, runs, f"{seconds:.2f}", len(queries)]


# --- the tables -----------------------------------------------------------------------------


def size_tables(results: list[Size]) -> list[str]:
    steps = list(dict.fromkeys(step for r in results for step in r.phases))
    workers = [s for s in steps if s != "s5cmd cp"]
    copies = [s for s in steps if "push" in s or "s5cmd" in s]

    def cell(r: Size, step: str, value: Callable[[Phase], str]) -> str:
        return value(r.phases[step]) if step in r.phases else "-"

    def versus_s5cmd(r: Size) -> str:
        if "push" not in r.phases or "s5cmd cp" not in r.phases:
            return "-"
        return f"{r.phases['s5cmd cp'].seconds / r.phases['push'].seconds:.2f}"

    times = [
        [
            f"{r.objects:,}",
            f"{r.listing:.1f}",
            *(cell(r, s, lambda p: f"{p.seconds:.1f}") for s in steps),
            f"{r.phases['dry run'].seconds / r.listing:.2f}" if r.listing else "-",
            versus_s5cmd(r),
            f"{r.launch_ms:.0f}",
            f"{r.s5cmd_failed:,}" if "s5cmd cp" in r.phases else "-",
        ]
        for r in results
    ]
    memory = [
        [
            f"{r.objects:,}",
            *(cell(r, s, lambda p: f"{p.worker_mib:.0f}") for s in workers),
            f"{max(p.cluster_mib for p in r.phases.values()):.0f}",
        ]
        for r in results
    ]
    throughput = [
        [
            f"{r.objects:,}",
            *(cell(r, s, lambda p, n=r.objects: f"{n / p.seconds:.0f}") for s in copies),
        ]
        for r in results
    ]
    requests = [
        [
            f"{r.objects:,}",
            *(cell(r, s, lambda p, n=r.objects: f"{p.requests / n:.4f}") for s in steps),
        ]
        for r in results
    ]
    return [
        "### Time (seconds)",
        "",
        *table(
            [
                "objects",
                "listing alone",
                *steps,
                "dry run / listing",
                "push speed / s5cmd's",
                "launch ms (median of 3)",
                "objects s5cmd failed",
            ],
            times,
        ),
        "### Peak resident memory (MiB)",
        "",
        *table(
            [
                "objects",
                *(f"{s}: one worker" for s in workers),
                "the clusters, all processes (PSS)",
            ],
            memory,
        ),
        "### Push throughput (objects per second)",
        "",
        *table(["objects", *copies], throughput),
        "### S3 requests per object (moto's count)",
        "",
        *table(["objects", *steps], requests),
    ]


if __name__ == "__main__":
    raise SystemExit(main())
