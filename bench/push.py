"""`python -m bench.push`: the push engine through the real job path against s5cmd and the AWS
CLI, all copying server-side on one moto S3 server.

Steps: start moto; a temporary SQLite database (migrate, a library, a workflow run per data set,
an operator); upload set A (many small objects) and set B (a few large ones); then, per run and
set, a dry run and its push (`launch_job`, django-q2's ORM broker, a `manage.py qcluster`
subprocess with 2 workers), s5cmd cp and aws s3 cp --recursive between buckets, interleaved. Then
the push under other worker settings (one cluster each), and once through a proxy that counts
S3 requests. Prints Markdown tables on stdout (progress on stderr).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
import math
import os
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from bench import harness
from bench.harness import DataSet, Run, Timing, progress, table

QUICK = {"repeat": 1, "small_files": 200, "large_files": 2, "large_mib": 8}
VARIANTS = "PUSH_THREADS=8,PUSH_THREADS=32,PUSH_BATCH_SIZE=1000,Q_CLUSTER_POLL_MS=200"
DEST_BUCKET = "dsm-bench-push"
WORKFLOW = "sash"
JOB_TIMEOUT = 900.0


@dataclasses.dataclass
class Bench:
    endpoint: str
    server_pid: int
    scratch: Path
    tools: harness.Tools
    user: object = None

    @contextlib.contextmanager
    def cluster(self, **settings_env: str) -> Iterator[subprocess.Popen]:
        """`manage.py qcluster` (2 workers, in its own session) with the project's settings
        plus `settings_env`, its output in the scratch folder's cluster.log (one at a time)."""
        from tests.support.cluster import start_cluster, stop

        endpoint = settings_env.pop("AWS_ENDPOINT_URL", self.endpoint)
        settings_env.setdefault("CHECKSUM_READ_OBJECTS", "true")  # as when embedded
        cluster = start_cluster(
            endpoint, self.scratch / "cluster.log", Q_CLUSTER_WORKERS="2", **settings_env
        )
        try:
            yield cluster
        finally:
            stop(cluster)


def main(argv: list[str] | None = None) -> int:
    def more(parser) -> None:
        help_text = "worker settings to push with besides the defaults, one cluster each"
        parser.add_argument("--variants", default=VARIANTS, help=help_text + " ('' for none)")

    args = harness.parse_args("python -m bench.push", __doc__, argv, QUICK, more)
    tools = harness.Tools.find(args.tools_venv)
    load = os.getloadavg()
    with harness.session("dsm-bench-push-") as (scratch, endpoint, server_pid):
        bench = Bench(endpoint, server_pid, scratch, tools)
        logging.getLogger("django-q").setLevel(logging.WARNING)  # not a line per queued task
        from django.conf import settings
        from django.core.management import call_command

        from sharing_project.s3.objects import ensure_bucket

        call_command("migrate", verbosity=0, interactive=False)
        ensure_bucket(DEST_BUCKET)
        sets = harness.upload_sets(args)
        warm_up = harness.small_set(20, "W", "warm-up/")  # a new cluster's first push, untimed
        bench.user = create_catalogue([*sets, warm_up])
        timings = compare_tools(bench, sets, warm_up, args.repeat)
        defaults = (
            f"defaults (PUSH_THREADS {settings.PUSH_THREADS}, PUSH_BATCH_SIZE "
            f"{settings.PUSH_BATCH_SIZE}, poll {settings.Q_CLUSTER['poll']:g} s)"
        )
        variants = {
            d.name: {defaults: dataclasses.replace(timings[d.name]["push"], tool=defaults)}
            for d in sets
        }
        for variant in filter(None, args.variants.split(",")):
            name, value = variant.strip().split("=", 1)
            progress(f"The push with {name}={value}.")
            for data in sets:
                variants[data.name][variant] = Timing.of(f"{name} {value}", data)
            with bench.cluster(**{name: value}) as cluster:
                push_once(bench, cluster, warm_up)
                for _ in range(args.repeat):
                    for data in sets:
                        variants[data.name][variant].runs.append(push_once(bench, cluster, data))
        requests = count_requests(bench, sets, warm_up)
        reading = checksum_reading(sets[-1])
        about = {
            "Push": f"{harness.git_version('jobs', 'shares', 'sharing_project', 'catalogue')}; "
            "launch_job, django-q2's ORM broker on SQLite, `manage.py qcluster` with 2 workers; "
            f"{defaults.removeprefix('defaults (')[:-1]}, PUSH_MULTIPART_THRESHOLD "
            f"{settings.PUSH_MULTIPART_THRESHOLD / 2**30:g} GiB",
            "Tools": tools.versions(),
            "Data": "; ".join(f"set {d.name} {d.description}" for d in sets),
            "Runs": f"best of {args.repeat}; the push, s5cmd and aws interleaved",
        }
    own = max(r.own_cpu for d in sets for t in timings[d.name].values() for r in t.runs)
    harness.emit(
        [
            "## Push",
            "",
            *harness.facts(load, about),
            "### Copies between buckets",
            "",
            *harness.tool_tables(sets, timings, "objects", "client"),
            f"- **The benchmark's own process** (most CPU during any run): {own:.2f} s",
            "",
            "### Against the targets",
            "",
            *target_tables(sets, timings, requests),
            "### Where the push's time goes",
            "",
            *phase_table(sets, timings),
            "### Worker settings",
            "",
            *harness.by_tool(sets, variants, "settings", VARIANT_COLUMNS, variant_cells),
            *harness.by_tool(sets, variants, "all runs", ["s"], harness.all_runs),
            *reading,
        ],
        args.output,
    )
    return 0


def checksum_reading(data: DataSet) -> list[str]:
    """How fast this process reads objects to compute their checksums (MD5, SHA-256, CRC32),
    with one thread and with CHECKSUM_THREADS: set B, read whole, twice each."""
    try:
        from sharing_project.s3.checksums import hash_object
    except ImportError:  # the service before issue 11 computes none
        return []
    from concurrent.futures import ThreadPoolExecutor

    from django.conf import settings

    uris = [data.uri(item) for item in data.objects]
    rows = []
    for threads in (1, settings.CHECKSUM_THREADS):
        runs = []
        for _ in range(2):
            started = time.perf_counter()
            with ThreadPoolExecutor(threads) as pool:
                list(pool.map(hash_object, uris))
            runs.append(time.perf_counter() - started)
        mib = data.total_bytes / harness.MIB
        rows.append([f"{threads}", f"{min(runs):.2f}", f"{mib / min(runs):,.0f}"])
    return [
        "### Reading objects to compute their checksums",
        "",
        *table(["threads (one worker process)", f"set {data.name} s", "MiB/s"], rows),
    ]


def portal_run_id(data: DataSet) -> str:
    return f"20240601abcdef{ord(data.name):02x}"


def create_catalogue(sets: list[DataSet]) -> object:
    """A library, a workflow run per data set and an operator (staff, in "operators")."""
    from django.contrib.auth import get_user_model

    from catalogue.models import Library, WorkflowRun
    from sharing_project.roles import OPERATORS, ensure_groups

    library = Library.objects.create(library_id="L2400001")
    for data in sets:
        run = WorkflowRun.objects.create(
            portal_run_id=portal_run_id(data),
            workflow_name=WORKFLOW,
            status=WorkflowRun.Status.SUCCEEDED,
            output_uri=data.uri(),
        )
        run.libraries.add(library)
    user = get_user_model().objects.create_user("bench-operator", is_staff=True)
    user.groups.add(ensure_groups()[OPERATORS])
    return user


# --- the runs -------------------------------------------------------------------------------


def compare_tools(bench: Bench, sets: list[DataSet], warm_up: DataSet, repeat: int) -> dict:
    """The push (default settings), s5cmd and aws on each set, `repeat` times, interleaved."""
    progress("The push with the default settings, s5cmd and aws, interleaved.")
    labels = {
        "push": "push (launch_job, qcluster, 2 workers)",
        "s5cmd": "s5cmd cp (server-side copy)",
        "aws": "aws s3 cp --recursive (CLI v1)",
    }
    timings = {d.name: {k: Timing.of(label, d) for k, label in labels.items()} for d in sets}
    with bench.cluster() as cluster:
        push_once(bench, cluster, warm_up)
        for _ in range(repeat):
            for data in sets:
                timings[data.name]["push"].runs.append(push_once(bench, cluster, data))
                for name, command in (("s5cmd", bench.tools.s5cmd_cp), ("aws", bench.tools.aws_cp)):
                    timings[data.name][name].runs.append(tool_once(bench, data, command, name))
    return timings


def push_once(
    bench: Bench, cluster: subprocess.Popen, data: DataSet, around=contextlib.nullcontext
) -> Run:
    """A dry run, then the push timed from launch_job's return to SUCCEEDED (polling every
    50 ms), checked, deleted; `around()` is entered after the dry run, left after the push."""
    from jobs.services import launch_job
    from shares.validation import LaunchSerializer

    settle(bench, data)
    destination = f"s3://{DEST_BUCKET}/push-{data.name.lower()}-{uuid.uuid4().hex[:8]}/"
    payload = {
        "portalRunIdList": [portal_run_id(data)],
        "dataTypeList": ["SecondaryAnalysis"],
        "shareType": "push",
        "shareDestination": destination,
    }
    serializer = LaunchSerializer(data=payload)
    serializer.is_valid(raise_exception=True)
    config = serializer.normalised_config
    wait_for(bench, cluster, launch_job(config, dryrun=True, user=bench.user))
    with around():
        job = launch_job(config, dryrun=False, user=bench.user)
        launched = time.time()
        cpu = functools.partial(harness.session_cpu, cluster.pid)
        run = harness.timed(lambda: wait_for(bench, cluster, job), cpu, bench.server_pid)
    statuses = Counter(job.job_objects.values_list("status", flat=True))
    if statuses != Counter({"COPIED": len(data.objects)}):
        raise RuntimeError(f"push {job.pk} of set {data.name}: objects {dict(statuses)}")
    folder = destination + f"secondary-analysis/{WORKFLOW}/{portal_run_id(data)}/"
    expected = {folder + item.relative_path: item.size for item in data.objects}
    check_copies(destination, expected | {destination + "lims.csv": None}, f"push {job.pk}")
    progress(f"  set {data.name}: push {run.seconds:7.2f} s")
    return dataclasses.replace(run, phases=push_phases(job, launched, launched + run.seconds))


def wait_for(bench: Bench, cluster: subprocess.Popen, job) -> None:
    """Poll the job's status every 50 ms until it ends; anything but SUCCEEDED is an error."""
    from jobs.models import TERMINAL_STATUSES, Job

    deadline = time.monotonic() + JOB_TIMEOUT
    while True:
        status = Job.objects.values_list("status", flat=True).get(pk=job.pk)
        if status in TERMINAL_STATUSES or cluster.poll() is not None or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    if status != "SUCCEEDED":
        job.refresh_from_db()
        log = (bench.scratch / "cluster.log").read_text()[-4000:]
        raise RuntimeError(
            f"job {job.pk} (dryrun={job.dryrun}) is {status}: {job.error_type}: "
            f"{job.error_message}\ncluster log:\n{log}"
        )


def push_phases(job, launched: float, observed: float) -> tuple[tuple[str, float], ...]:
    """The push's steps from the job's own records: its start and end, its log lines. The
    job's task copies the first batch itself; later batches overlap with it."""
    job.refresh_from_db()
    lines = list(job.log_lines.order_by("at", "pk").values_list("message", "at"))
    copying, verified = (
        next(at.timestamp() for message, at in lines if message.startswith(prefix))
        for prefix in ("Copying ", "Verified the copies")
    )
    started, finished = job.started_at.timestamp(), job.finished_at.timestamp()
    return (
        ("the job waits in the queue for a worker", started - launched),
        ("checks (write check, archive check, skip listing), queue the batches", copying - started),
        ("copies, then one listing to verify them", verified - copying),
        ("checksum list, lims.csv, its presigned link, the job's end", finished - verified),
        ("until the benchmark notices (it polls every 50 ms)", observed - finished),
    )


def tool_once(bench: Bench, data: DataSet, command, name: str) -> Run:
    """One copy of the set between buckets by a tool, into a fresh prefix, checked, deleted."""
    settle(bench, data)
    destination = f"s3://{DEST_BUCKET}/{name}-{data.name.lower()}-{uuid.uuid4().hex[:8]}/"
    argv = command(bench.endpoint, data.uri(), destination)
    work = functools.partial(harness.run_command, argv, f"{name} on set {data.name}")
    run = harness.timed(work, harness.children_cpu, bench.server_pid)
    expected = {destination + item.relative_path: item.size for item in data.objects}
    check_copies(destination, expected, name)
    progress(f"  set {data.name}: {name} {run.seconds:7.2f} s")
    return run


# What a push writes besides the copies, since issue 11 (a push before it writes none).
CHECKSUM_LISTS = ("checksums.md5", "checksums.sha256")


def check_copies(destination: str, expected: dict[str, int | None], what: str) -> None:
    """The destination holds exactly the expected objects, with their sizes (None: any size),
    and maybe the push's checksum lists; then they are deleted (moto keeps everything in
    memory), 1,000 keys a request."""
    from sharing_project.s3.client import client
    from sharing_project.s3.objects import list_objects
    from sharing_project.s3.uris import parse_s3_uri

    found = {item.uri: item.size for item in list_objects(destination)}
    wrong = [
        f"{uri}: size {found.get(uri)}, expected {size}"
        for uri, size in expected.items()
        if uri not in found or size not in (None, found[uri])
    ] + [
        f"{uri}: not expected"
        for uri in found.keys() - expected.keys()
        if uri.removeprefix(destination) not in CHECKSUM_LISTS
    ]
    if wrong:
        raise RuntimeError(f"{what} did not copy correctly to {destination}:\n" + "\n".join(wrong))
    bucket = parse_s3_uri(destination, prefix=True).bucket
    keys = [{"Key": parse_s3_uri(uri).key} for uri in found]
    for start in range(0, len(keys), 1000):
        objects = {"Objects": keys[start : start + 1000], "Quiet": True}
        client().delete_objects(Bucket=bucket, Delete=objects)


def settle(bench: Bench, data: DataSet) -> None:
    """For set B (large objects): an untimed copy between buckets from this process, then
    deleted. moto's CPU for copying large objects is much higher for the first copy after
    other work than for the next one, whatever the client: this puts every timed run of the
    set in the same state."""
    if data.name != "B":
        return
    from concurrent.futures import ThreadPoolExecutor

    from django.conf import settings

    from sharing_project.s3.copy import CopyOptions, copy_object

    destination = f"s3://{DEST_BUCKET}/settle-{uuid.uuid4().hex[:8]}/"
    options = CopyOptions(settings.PUSH_MULTIPART_THRESHOLD, settings.PUSH_PART_SIZE)
    copies = {destination + item.relative_path: item for item in data.objects}

    def copy(uri: str) -> None:
        copy_object(data.uri(copies[uri]), uri, copies[uri].size, options)

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(copy, copies))
    check_copies(destination, {uri: item.size for uri, item in copies.items()}, "settle")


def count_requests(bench: Bench, sets: list[DataSet], warm_up: DataSet) -> dict[str, tuple]:
    """Each set pushed once by a cluster whose S3 endpoint is a counting proxy (no faults):
    set -> (objects, requests from the push's launch to its end, seconds through the proxy)."""
    from tests.support.fault_proxy import FaultProxy

    progress("The push through a proxy that counts S3 requests.")
    counted: dict[str, tuple] = {}

    @contextlib.contextmanager
    def counting(name: str) -> Iterator[None]:
        before = proxy.requests
        yield
        counted[name] = proxy.requests - before

    with (
        FaultProxy(bench.endpoint) as proxy,
        bench.cluster(AWS_ENDPOINT_URL=proxy.endpoint) as cluster,
    ):
        push_once(bench, cluster, warm_up)
        for data in sets:
            run = push_once(bench, cluster, data, around=functools.partial(counting, data.name))
            counted[data.name] = (len(data.objects), counted[data.name], run.seconds)
    if proxy.errors or proxy.forwarded != proxy.requests:
        raise RuntimeError(f"the counting proxy failed: {proxy.errors[:5]}")
    return counted


# --- tables ---------------------------------------------------------------------------------

VARIANT_COLUMNS = ["s", "objects/s", "worker CPU s", "server CPU s", "copies s"]


def variant_cells(t: Timing) -> str:
    """'copies s' is the copy step: from the job's log line 'Copying' to 'Verified'."""
    run = t.best_run
    return (
        f"{t.best:.2f} | {t.files_per_second:,.0f} | {run.client_cpu:.2f} | "
        f"{run.server_cpu:.2f} | {run.phases[2][1]:.2f}"
    )


def target_tables(sets: list[DataSet], timings: dict, requests: dict) -> list[str]:
    """The targets' measures, then the requests counted against those that docs/push.md's
    steps account for into an empty prefix: the write check (PUT, DELETE), a listing to skip
    what is there, a CopyObject per object, a listing to verify (1,000 keys a page) and the
    PUTs of checksums.md5 and lims.csv."""
    ratios = [f"{timings[d.name]['s5cmd'].best / timings[d.name]['push'].best:.3f}x" for d in sets]
    per_object = [f"{requests[d.name][1] / requests[d.name][0]:.3f}" for d in sets]
    rows = [
        ["push / s5cmd, throughput", *ratios, "≥ 0.9x"],
        ["S3 requests per object, push", *per_object, "≤ 1.05 (set A)"],
    ]
    counted = [
        [d.name, f"{n:,}", f"{count:,}", f"{5 + n + max(1, math.ceil(n / 1000)):,}", f"{s:.2f}"]
        for d in sets
        for n, count, s in [requests[d.name]]
    ]
    header = ["set", "objects", "requests", "by docs/push.md's steps", "push through the proxy s"]
    return [
        *table(["measure", *[f"set {d.name}" for d in sets], "target"], rows),
        *table(header, counted),
    ]


def phase_table(sets: list[DataSet], timings: dict) -> list[str]:
    best = [timings[d.name]["push"].best_run for d in sets]
    rows = [
        [name, *(f"{run.phases[i][1]:.2f}" for run in best)]
        for i, (name, _) in enumerate(best[0].phases)
    ]
    rows.append(["total", *(f"{run.seconds:.2f}" for run in best)])
    return table(["step (the best push)", *[f"set {d.name} s" for d in sets]], rows)


if __name__ == "__main__":
    raise SystemExit(main())
