"""`python -m bench.push`: the push engine against s5cmd and the AWS CLI, all copying server-side
on one moto S3 server, and a `## Push` section at the end of docs/benchmarks.md.

Steps: start moto; a temporary SQLite database (migrate, a library, a workflow run per data set,
an operator); upload set A (many small objects) and set B (a few large ones); then, per run and
set, a dry run and its push through the real job path (`launch_job`, django-q2's ORM broker, a
`manage.py qcluster` subprocess), s5cmd cp and aws s3 cp --recursive between buckets. Then the
push under other worker settings, once through a proxy that counts S3 requests, and once under
py-spy when it is installed.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import re
import resource
import shutil
import subprocess
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from bench.datasets import BUCKET, KIB, MIB, DataSet
from bench.download import BestOfRuns, machine_cpu, process_cpu
from bench.environment import aws_environment
from bench.push_cluster import Cluster
from bench.run import find_tools
from bench.server import Server, moto_server

if TYPE_CHECKING:
    from django.contrib.auth.models import User

ROOT = Path(__file__).resolve().parent.parent
DEST_BUCKET = "dsm-bench-push"
SECRET_KEY = "bench-push-only"  # noqa: S105 (a throw-away database; django-q2 signs tasks with it)
LIBRARY_ID = "L2400001"
WORKFLOW = "sash"
PORTAL_RUN_IDS = {"A": "20240601abcdef01", "B": "20240601abcdef02", "W": "20240601abcdef03"}
WARM_UP_OBJECTS = 20
POLL_SECONDS = 0.05
JOB_TIMEOUT = 900.0
DEFAULT_VARIANTS = "PUSH_THREADS=8,PUSH_THREADS=32,PUSH_BATCH_SIZE=1000,BENCH_Q_POLL=0.2"
# Settings read from the environment that must not leak into the measured processes.
_CLEARED = ("DSM_", "DJANGO_", "PUSH_", "Q_CLUSTER_", "DATABASE_", "S3_", "JOB_LEASE")


# --- data ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PushSet:
    """A data set and the workflow run whose outputs it is."""

    data: DataSet
    portal_run_id: str
    settle: bool = False  # copy it once, untimed, before every timed run (see settle())

    @property
    def name(self) -> str:
        return self.data.name

    @property
    def source(self) -> str:
        return f"s3://{BUCKET}/{self.data.prefix}"

    @property
    def folder(self) -> str:
        """Where a push puts the run's outputs below its destination."""
        return f"secondary-analysis/{WORKFLOW}/{self.portal_run_id}/"


@dataclass(frozen=True)
class Run:
    seconds: float  # wall clock
    client_cpu: float  # CPU s of the worker cluster's processes, or of the tool's
    server_cpu: float  # CPU s of the S3 server meanwhile
    own_cpu: float  # CPU s of this benchmark process meanwhile (polling, waiting)
    other_cpu: float  # CPU s of every other process on the machine meanwhile
    phases: tuple[tuple[str, float], ...] = ()  # a push's steps, from the job's records


@dataclass
class Timing(BestOfRuns):
    tool: str
    data_set: str
    files: int
    total_bytes: int
    runs: list[Run] = field(default_factory=list)


@dataclass(frozen=True)
class Snapshot:
    """CPU seconds so far: the machine, the client (cluster or tools), the server, this process."""

    machine: float
    client: float
    server: float
    own: float

    @classmethod
    def take(cls, client: Callable[[], float], server_pid: int) -> Snapshot:
        own = resource.getrusage(resource.RUSAGE_SELF)
        return cls(machine_cpu(), client(), process_cpu(server_pid), own.ru_utime + own.ru_stime)

    def run_until(self, later: Snapshot, seconds: float, phases=()) -> Run:
        client = later.client - self.client
        server = later.server - self.server
        own = later.own - self.own
        other = max(0.0, later.machine - self.machine - client - server - own)
        return Run(seconds, client, server, own, other, tuple(phases))


def children_cpu() -> float:
    """CPU s of this process's children that were waited for (the tools, not the cluster)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


# --- the command line ---------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.push", description=__doc__)
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (best kept)")
    parser.add_argument("--small-files", type=int, default=2000, help="set A: 4 KiB objects")
    parser.add_argument("--large-files", type=int, default=8, help="set B: large objects")
    parser.add_argument("--large-mib", type=int, default=64, help="set B: MiB per object")
    parser.add_argument(
        "--variants",
        default=DEFAULT_VARIANTS,
        help="worker settings to push with besides the defaults (NAME=VALUE, comma-separated; "
        "one cluster each; '' for none); BENCH_Q_POLL=SECONDS runs that cluster with "
        "bench/push_settings.py, the project's settings with another django-q2 poll",
    )
    parser.add_argument("--py-spy", type=Path, help="py-spy to profile with (default: on PATH)")
    parser.add_argument("--no-profile", action="store_true", help="skip the py-spy run")
    parser.add_argument("--tools-venv", type=Path, default=ROOT / ".venv-bench")
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "benchmarks.md")
    parser.add_argument("--no-write", action="store_true", help="print the report only")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    args.variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    for variant in args.variants:
        if not re.fullmatch(r"[A-Z][A-Z0-9_]*=\S+", variant):
            parser.error(f"--variants: {variant!r} is not NAME=VALUE")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    s5cmd, aws = find_tools(args.tools_venv, needs=())
    from bench.push_profile import find_py_spy

    py_spy = None
    if not args.no_profile:
        py_spy = find_py_spy(args.py_spy, [args.tools_venv, ROOT / ".venv"])
    scratch = Path(tempfile.mkdtemp(prefix="dsm-bench-push-", dir="/tmp"))
    try:
        with moto_server(scratch / "moto.log") as server:
            results = measure(args, server, scratch, s5cmd, aws, py_spy)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    from bench.push_report import render, write_section

    report = render(args, results)
    print(report)
    if not args.no_write:
        write_section(args.output, report)
        print(f"Written to {args.output}")
    return 0


# --- set-up -------------------------------------------------------------------------------------


def setup_django(endpoint: str, scratch: Path) -> dict[str, str]:
    """Point this process at a fresh SQLite database and the benchmark's S3 server, start
    Django, migrate; returns the environment for the worker clusters and the tools."""
    for name in list(os.environ):
        if name.startswith(_CLEARED) or name in (
            "AWS_SESSION_TOKEN",
            "AWS_PROFILE",
            "DEBUG",
            "TIME_ZONE",
        ):
            del os.environ[name]
    os.environ.pop("PRESIGN_AWS_PROFILE", None)
    data_dir = scratch / "dsm-data"
    data_dir.mkdir()
    os.environ.update(aws_environment(endpoint, scratch))
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "sharing_project.settings",
            "SECRET_KEY": SECRET_KEY,
            "DATABASE_URL": f"sqlite:///{scratch / 'bench.sqlite3'}",
            "DSM_DATA_DIR": str(data_dir),
            "TIME_ZONE": "UTC",  # the clusters' log times, read by Cluster.task_taken
        }
    )
    import django

    django.setup()
    logging.getLogger("django-q").setLevel(logging.WARNING)  # not a line per queued task
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)
    return dict(os.environ)


def upload_sets(args: argparse.Namespace) -> list[PushSet]:
    """Sets A and B, uploaded by bench/datasets.py."""
    from bench.datasets import large_set, small_set

    small = small_set(args.small_files)
    print(f"Set A: {small.description} uploaded.", flush=True)
    large = large_set(args.large_files, args.large_mib * MIB)
    print(f"Set B: {large.description} uploaded.", flush=True)
    return [
        PushSet(small, PORTAL_RUN_IDS["A"]),
        PushSet(large, PORTAL_RUN_IDS["B"], settle=True),
    ]


def upload_warm_up() -> PushSet:
    """A few small objects, pushed once on every new cluster before anything is timed."""
    from bench.datasets import DataObject
    from sharing_project.s3.objects import put_object

    data = DataSet("W", f"{WARM_UP_OBJECTS} x 4 KiB", "warm-up/")
    for n in range(WARM_UP_OBJECTS):
        body = os.urandom(4 * KIB)
        put_object(f"s3://{BUCKET}/{data.prefix}file-{n:02d}.bin", body)
        data.objects.append(DataObject(f"file-{n:02d}.bin", len(body), "", ""))
    return PushSet(data, PORTAL_RUN_IDS["W"])


def create_catalogue(sets: list[PushSet]) -> User:
    """A library, a workflow run per data set and an operator (staff, in "operators")."""
    from django.contrib.auth import get_user_model

    from catalogue.models import Library, WorkflowRun
    from sharing_project.roles import OPERATORS, ensure_groups

    library = Library.objects.create(library_id=LIBRARY_ID)
    for push_set in sets:
        run = WorkflowRun.objects.create(
            portal_run_id=push_set.portal_run_id,
            workflow_name=WORKFLOW,
            status=WorkflowRun.Status.SUCCEEDED,
            output_uri=push_set.source,
        )
        run.libraries.add(library)
    user = get_user_model().objects.create_user("bench-operator", is_staff=True)
    user.groups.add(ensure_groups()[OPERATORS])
    return user


# --- the measurements ---------------------------------------------------------------------------


@dataclass
class Bench:
    args: argparse.Namespace
    server: Server
    scratch: Path
    env: dict[str, str]
    user: User
    sets: list[PushSet]
    warm_up: PushSet
    s5cmd: Path
    aws: Path
    settle_cpu: list[float] = field(default_factory=list)  # moto's CPU s for each settle()

    def cluster(self, name: str, **settings_env: str) -> Cluster:
        env = self.env | {"Q_CLUSTER_WORKERS": "2"} | settings_env
        if any(key.startswith("BENCH_") for key in settings_env):
            env["DJANGO_SETTINGS_MODULE"] = "bench.push_settings"  # the experiment's settings
        return Cluster(name, env, self.scratch / f"cluster-{slug(name)}.log")


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def measure(
    args: argparse.Namespace,
    server: Server,
    scratch: Path,
    s5cmd: Path,
    aws: Path,
    py_spy: Path | None,
) -> dict:
    """Every measurement, as plain data for the report."""
    env = setup_django(server.endpoint, scratch)
    from sharing_project.s3.objects import ensure_bucket

    ensure_bucket(DEST_BUCKET)
    sets = upload_sets(args)
    warm = upload_warm_up()
    user = create_catalogue([*sets, warm])
    bench = Bench(args, server, scratch, env, user, sets, warm, s5cmd, aws)
    results: dict = {"sets": sets, "load_before": os.getloadavg()}

    timings: dict[str, dict[str, Timing]] = {
        s.name: {
            key: Timing(label, s.name, len(s.data.objects), s.data.total_bytes)
            for key, label in (
                ("push", "push (launch_job, qcluster, 2 workers)"),
                ("s5cmd", "s5cmd cp (server-side copy)"),
                ("aws", "aws s3 cp --recursive (CLI v1)"),
            )
        }
        for s in sets
    }
    print("The push with the default settings, s5cmd and aws, interleaved.", flush=True)
    with bench.cluster("default") as cluster:
        push_once(bench, cluster, warm, "warm-up")
        for attempt in range(args.repeat):
            for push_set in sets:
                runs = {
                    "push": push_once(bench, cluster, push_set, f"push-{push_set.name}"),
                    "s5cmd": tool_once(bench, push_set, "s5cmd", s5cmd_command(bench, push_set)),
                    "aws": tool_once(bench, push_set, "aws", aws_command(bench, push_set)),
                }
                for key, run in runs.items():
                    timing = timings[push_set.name][key]
                    timing.runs.append(run)
                    report_run(timing, attempt, run)
        results["profile"] = profile_push(bench, cluster, py_spy) if py_spy else None
    results["timings"] = timings

    variants: dict[str, dict[str, Timing]] = {"": {s.name: timings[s.name]["push"] for s in sets}}
    for variant in args.variants:
        name, value = variant.split("=", 1)
        print(f"The push with {variant}.", flush=True)
        variants[variant] = {
            s.name: Timing(f"push, {variant}", s.name, len(s.data.objects), s.data.total_bytes)
            for s in sets
        }
        with bench.cluster(variant, **{name: value}) as cluster:
            push_once(bench, cluster, warm, "warm-up")
            for attempt in range(args.repeat):
                for push_set in sets:
                    run = push_once(bench, cluster, push_set, f"{slug(variant)}-{push_set.name}")
                    variants[variant][push_set.name].runs.append(run)
                    report_run(variants[variant][push_set.name], attempt, run)
    results["variants"] = variants

    print("The push through a proxy that counts S3 requests.", flush=True)
    results["requests"] = count_requests(bench)
    results["load_after"] = os.getloadavg()
    results["settings"] = worker_settings()
    results["settle_cpu"] = bench.settle_cpu
    return results


def report_run(timing: Timing, attempt: int, run: Run) -> None:
    print(
        f"  set {timing.data_set} run {attempt + 1}: {timing.tool:<42} {run.seconds:7.2f} s "
        f"(CPU s: client {run.client_cpu:5.2f}, server {run.server_cpu:5.2f}, "
        f"others {run.other_cpu:5.2f})",
        flush=True,
    )


def worker_settings() -> dict:
    """The settings the default cluster ran with (none was set in its environment)."""
    from django.conf import settings

    return {
        "PUSH_THREADS": settings.PUSH_THREADS,
        "PUSH_BATCH_SIZE": settings.PUSH_BATCH_SIZE,
        "PUSH_MULTIPART_THRESHOLD": settings.PUSH_MULTIPART_THRESHOLD,
        "poll": settings.Q_CLUSTER["poll"],
        "workers": 2,
    }


# --- one push -----------------------------------------------------------------------------------


def push_config(push_set: PushSet, destination: str) -> dict:
    """The launch payload, validated and normalised as the API does it."""
    from shares.validation import LaunchSerializer

    serializer = LaunchSerializer(
        data={
            "portalRunIdList": [push_set.portal_run_id],
            "dataTypeList": ["SecondaryAnalysis"],
            "shareType": "push",
            "shareDestination": destination,
        }
    )
    if not serializer.is_valid():
        raise RuntimeError(f"the launch payload is invalid: {serializer.errors}")
    return serializer.normalised_config


def push_once(
    bench: Bench,
    cluster: Cluster,
    push_set: PushSet,
    label: str,
    during: Callable[[], AbstractContextManager] = contextlib.nullcontext,
) -> Run:
    """A dry run, then the push timed from launch_job's return to SUCCEEDED, then checked;
    `during` is entered after the dry run and left once the push has ended."""
    from jobs.services import launch_job

    settle(bench, push_set)
    destination = f"s3://{DEST_BUCKET}/{slug(label)}-{uuid.uuid4().hex[:8]}/"
    config = push_config(push_set, destination)
    wait_for(launch_job(config, dryrun=True, user=bench.user), cluster)
    with during():
        job = launch_job(config, dryrun=False, user=bench.user)
        launched = time.time()
        before = Snapshot.take(cluster.cpu, bench.server.pid)
        start = time.perf_counter()
        wait_for(job, cluster)
        seconds = time.perf_counter() - start
        after = Snapshot.take(cluster.cpu, bench.server.pid)
    check_push(job, push_set, destination)
    phases = push_phases(job, cluster, launched, launched + seconds)
    remove_prefix(destination)
    return before.run_until(after, seconds, phases)


def wait_for(job, cluster: Cluster, timeout: float = JOB_TIMEOUT) -> None:
    """Poll the job's status every 50 ms until it ends; anything but SUCCEEDED is an error."""
    from jobs.models import Job

    deadline = time.monotonic() + timeout
    while True:
        status = Job.objects.filter(pk=job.pk).values_list("status", flat=True).get()
        if status in ("SUCCEEDED", "FAILED", "ABORTED"):
            break
        cluster.check_alive()
        if time.monotonic() > deadline:
            raise RuntimeError(f"job {job.pk} is still {status} after {timeout:.0f} s")
        time.sleep(POLL_SECONDS)
    if status != "SUCCEEDED":
        job.refresh_from_db()
        kind = "dry run" if job.dryrun else "push"
        raise RuntimeError(
            f"the {kind} {job.pk} ended {status}: {job.error_type}: {job.error_message} "
            f"{job.error_details}\ncluster log:\n{cluster.tail()}"
        )


def check_push(job, push_set: PushSet, destination: str) -> None:
    """Every object COPIED (none skipped), there with its size, and lims.csv."""
    from jobs.models import JobObject

    statuses = Counter(JobObject.objects.filter(job=job).values_list("status", flat=True))
    if statuses != Counter({"COPIED": len(push_set.data.objects)}):
        raise RuntimeError(f"push {job.pk} of set {push_set.name}: objects {dict(statuses)}")
    expected = {
        destination + push_set.folder + item.relative_path: item.size
        for item in push_set.data.objects
    }
    check_copies(destination, expected, {destination + "lims.csv"}, f"push {job.pk}")


def check_copies(destination: str, expected: dict[str, int], extra: set[str], what: str) -> None:
    """The destination holds exactly the expected objects with their sizes (and `extra`)."""
    from sharing_project.s3.objects import list_objects

    found = {item.uri: item.size for item in list_objects(destination)}
    wrong = [
        f"{uri}: size {found.get(uri)}, expected {size}"
        for uri, size in expected.items()
        if found.get(uri) != size
    ]
    wrong += [f"{uri}: not expected" for uri in found.keys() - expected.keys() - extra]
    wrong += [f"{uri}: missing" for uri in extra - found.keys()]
    if wrong:
        listing = "\n".join(wrong[:20])
        raise RuntimeError(
            f"{what} did not copy correctly to {destination} ({len(wrong)} problems):\n{listing}"
        )


def remove_prefix(prefix: str) -> None:
    """Delete the copies (moto keeps everything in memory), 1,000 keys a request."""
    from sharing_project.s3.client import client
    from sharing_project.s3.objects import list_objects
    from sharing_project.s3.uris import parse_s3_uri

    target = parse_s3_uri(prefix, prefix=True)
    keys = [item.key for item in list_objects(prefix)]
    for start in range(0, len(keys), 1000):
        client().delete_objects(
            Bucket=target.bucket,
            Delete={"Objects": [{"Key": key} for key in keys[start : start + 1000]], "Quiet": True},
        )


QUEUED_FIRST_BATCH = "the first batch waits in the queue for a worker"
INLINE_FIRST_BATCH = "the first batch: copied by the job's own task, no hand-over"


def push_phases(job, cluster: Cluster, launched: float, observed: float) -> list[tuple[str, float]]:
    """The push's steps from the job's own records (its start and end, its log lines) and,
    if the first batch went through the queue as a task of its own, the cluster's log line
    for the moment a worker took it (django-q2 records a task's enqueueing and its end, not
    its start). Batches after the first overlap with it and are not steps of their own."""
    from jobs.models import JobObject

    job.refresh_from_db()
    lines = list(job.log_lines.order_by("at", "pk").values_list("message", "at"))

    def first(prefix: str) -> float:
        for message, at in lines:
            if message.startswith(prefix):
                return at.timestamp()
        raise RuntimeError(f"job {job.pk} has no log line starting {prefix!r}: {lines}")

    copying, verified = first("Copying "), first("Verified the copies")
    position = (
        JobObject.objects.filter(job=job).order_by("position").values_list("position", flat=True)[0]
    )
    # A queued first batch was logged before it ran, so before the job ended: no long wait.
    taken = cluster.task_taken(f"push-{job.pk}-{position}", timeout=0.3)
    label, batch_start = (
        (INLINE_FIRST_BATCH, copying) if taken is None else (QUEUED_FIRST_BATCH, taken)
    )
    started, finished = job.started_at.timestamp(), job.finished_at.timestamp()
    return [
        ("the job waits in the queue for a worker", started - launched),
        ("checks (write check, archive check, skip listing), queue the batches", copying - started),
        (label, batch_start - copying),
        ("copies, then one listing to verify them", verified - batch_start),
        ("lims.csv, its presigned link, the job's end", finished - verified),
        ("until the benchmark notices (it polls every 50 ms)", observed - finished),
    ]


def settle(bench: Bench, push_set: PushSet) -> None:
    """For a set of large objects: an untimed copy of it between buckets, from this process,
    then deleted. moto's CPU for copying large objects is much higher for the first copy after
    other work than for the next one, whatever the client, which would otherwise penalise
    whichever run comes first; this puts every timed run of the set in the same state."""
    if not push_set.settle:
        return
    from concurrent.futures import ThreadPoolExecutor

    from django.conf import settings

    from sharing_project.s3.copy import CopyOptions, copy_object

    destination = f"s3://{DEST_BUCKET}/settle-{uuid.uuid4().hex[:8]}/"
    options = CopyOptions(settings.PUSH_MULTIPART_THRESHOLD, settings.PUSH_PART_SIZE)
    before = process_cpu(bench.server.pid)
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(
            pool.map(
                lambda item: copy_object(
                    push_set.data.uri(item), destination + item.relative_path, item.size, options
                ),
                push_set.data.objects,
            )
        )
    bench.settle_cpu.append(process_cpu(bench.server.pid) - before)
    remove_prefix(destination)


# --- the other tools ----------------------------------------------------------------------------


def s5cmd_command(bench: Bench, push_set: PushSet) -> Callable[[str], list[str]]:
    return lambda destination: [
        str(bench.s5cmd),
        "--endpoint-url",
        bench.server.endpoint,
        "--log",
        "error",
        "cp",
        f"{push_set.source}*",
        destination,
    ]


def aws_command(bench: Bench, push_set: PushSet) -> Callable[[str], list[str]]:
    return lambda destination: [
        str(bench.aws),
        "--endpoint-url",
        bench.server.endpoint,
        "s3",
        "cp",
        "--recursive",
        "--only-show-errors",
        push_set.source,
        destination,
    ]


def tool_once(
    bench: Bench, push_set: PushSet, name: str, command: Callable[[str], list[str]]
) -> Run:
    """One copy of the set between buckets by a tool, into a fresh prefix, checked."""
    settle(bench, push_set)
    destination = f"s3://{DEST_BUCKET}/{name}-{push_set.name.lower()}-{uuid.uuid4().hex[:8]}/"
    before = Snapshot.take(children_cpu, bench.server.pid)
    start = time.perf_counter()
    result = subprocess.run(
        command(destination),
        env=bench.env,
        capture_output=True,
        text=True,
        timeout=JOB_TIMEOUT,
        check=False,
    )
    seconds = time.perf_counter() - start
    after = Snapshot.take(children_cpu, bench.server.pid)
    if result.returncode != 0:
        raise RuntimeError(
            f"{name} on set {push_set.name} exited {result.returncode}:\n"
            f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        )
    expected = {destination + item.relative_path: item.size for item in push_set.data.objects}
    check_copies(destination, expected, set(), name)
    remove_prefix(destination)
    return before.run_until(after, seconds)


# --- requests and the profile -------------------------------------------------------------------


@dataclass(frozen=True)
class RequestCount:
    objects: int
    requests: int  # received by the proxy during the push
    forwarded: int  # of which answered by the server
    seconds: float  # the push through the proxy (slower: one upstream connection a request)


def count_requests(bench: Bench) -> dict[str, RequestCount]:
    """Each set pushed once by a cluster whose S3 endpoint is a counting proxy (no faults)."""
    from tests.support.fault_proxy import FaultProxy

    counts: dict[str, RequestCount] = {}
    proxy = FaultProxy(bench.server.endpoint).start()
    try:
        with bench.cluster("counted", AWS_ENDPOINT_URL=proxy.endpoint) as cluster:
            push_once(bench, cluster, bench.warm_up, "warm-up")
            for push_set in bench.sets:
                counts[push_set.name] = _counted_push(bench, cluster, push_set, proxy)
                count = counts[push_set.name]
                print(
                    f"  set {push_set.name}: {count.requests} requests for {count.objects} "
                    f"objects ({count.requests / count.objects:.3f} each)",
                    flush=True,
                )
    finally:
        proxy.stop()
    if proxy.errors:
        raise RuntimeError(f"the counting proxy failed: {proxy.errors[:5]}")
    return counts


def _counted_push(bench: Bench, cluster: Cluster, push_set: PushSet, proxy) -> RequestCount:
    """As push_once, but the proxy's counters are read around the push alone."""
    from jobs.services import launch_job

    destination = f"s3://{DEST_BUCKET}/counted-{push_set.name.lower()}-{uuid.uuid4().hex[:8]}/"
    config = push_config(push_set, destination)
    wait_for(launch_job(config, dryrun=True, user=bench.user), cluster)
    requests, forwarded = proxy.requests, proxy.forwarded
    job = launch_job(config, dryrun=False, user=bench.user)
    start = time.perf_counter()
    wait_for(job, cluster)
    seconds = time.perf_counter() - start
    counted = RequestCount(
        len(push_set.data.objects),
        proxy.requests - requests,
        proxy.forwarded - forwarded,
        seconds,
    )
    check_push(job, push_set, destination)
    remove_prefix(destination)
    return counted


def profile_push(bench: Bench, cluster: Cluster, py_spy: Path):
    """One more push of set A, the cluster and the server sampled by py-spy (not timed)."""
    from bench.push_profile import Recorder

    print(f"One push of set A under {py_spy}.", flush=True)
    recorder = Recorder(py_spy, cluster.pid, bench.server.pid, bench.scratch)
    run = push_once(bench, cluster, bench.sets[0], "profiled-a", during=lambda: recorder)
    profile = recorder.result()
    profile.push_seconds = run.seconds
    return profile


if __name__ == "__main__":
    raise SystemExit(main())
