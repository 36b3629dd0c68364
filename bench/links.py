"""`python -m bench.links`: a pull's downloads through its share link (the service as the
download endpoint) against the same share's presigned links, s5cmd and the AWS CLI.

Steps: start moto (counting the S3 requests it serves); a scratch database (SQLite, or a fresh
PostgreSQL database beside --database-url, dropped at the end); upload set A (many small
objects) and set B (a few large ones); a workflow run per set and a real pull of each
(launch_job, then the job runner in this process) with PUBLIC_BASE_URL naming a gunicorn this
benchmark starts (sharing_project.gunicorn_conf, WEB_WORKERS and WEB_THREADS at their defaults,
SHARE_LINK_RATE off), and a second gunicorn of --more-workers workers. Fetch each pull's script
from its link with curl; render the same share's script with presigned URLs, as the pull does
without PUBLIC_BASE_URL. Then per set, `--repeat` times, interleaved: the script through the
link (each gunicorn), the presigned script, s5cmd and aws, each into a fresh folder checked
byte for byte, counting meanwhile the requests the service logged (and their time in Django),
the access-log rows written, the S3 requests moto served, and gunicorn's and moto's CPU. Last,
each step of one file request timed alone from one client, with this process's CPU. Prints
Markdown tables on stdout (progress on stderr).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
import re
import shutil
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from bench import harness
from bench.download import check_download
from bench.harness import BUCKET, DataSet, Timing, progress, table
from bench.load import web_server
from bench.push import create_catalogue, portal_run_id
from bench.scale import config, fresh_database, requests_served

QUICK = {"repeat": 1, "small_files": 200, "large_files": 2, "large_mib": 8, "steps": 50}
# The line the service logs for each request (ops.logs.RequestLogMiddleware): the token in its
# path is redacted; its duration is the request's time in Django.
REQUEST_LINE = re.compile(r" ops\.requests [A-Z]+ \S+ \d{3} ([\d.]+) ms$", re.MULTILINE)


@dataclasses.dataclass(frozen=True)
class Server:
    base: str
    pid: int  # gunicorn's master, its session's id
    log: Path
    workers: int


@dataclasses.dataclass(frozen=True)
class Tool:
    label: str
    command: list[str]  # "{dest}" is the run's folder
    root: str  # where the share's files land below it
    server: Server  # the gunicorn whose CPU and requests the run counts


@dataclasses.dataclass(frozen=True)
class Served:
    """What the service and S3 did during one run."""

    requests: int  # requests the service logged
    django_ms: float  # their total time in Django (the logged durations)
    access_rows: int  # ShareAccess rows written
    s3_requests: int  # requests moto served
    moto_cpu: float  # moto's CPU seconds

    def __sub__(self, other: Served) -> Served:
        values = (
            a - b
            for a, b in zip(dataclasses.astuple(self), dataclasses.astuple(other), strict=True)
        )
        return Served(*values)


@dataclasses.dataclass
class LinkTiming(Timing):
    served: list[Served] = dataclasses.field(default_factory=list)  # one per run

    @property
    def best_served(self) -> Served:
        return self.served[self.runs.index(self.best_run)]


def main(argv: list[str] | None = None) -> int:
    def more(parser) -> None:
        parser.add_argument(
            "--database-url",
            default="",
            help="a PostgreSQL server (postgres://postgres@127.0.0.1:5432/postgres): a fresh "
            "database beside it, dropped at the end; default: SQLite in the scratch folder",
        )
        parser.add_argument(
            "--more-workers",
            type=int,
            default=4,
            help="also the link through a gunicorn of this many workers (0: not)",
        )
        parser.add_argument(
            "--steps", type=int, default=300, help="times each step of one request is timed"
        )

    args = harness.parse_args("python -m bench.links", __doc__, argv, QUICK, more)
    tools = harness.Tools.find(args.tools_venv, needs=("curl", "bash", "md5sum"))
    load = os.getloadavg()
    # The per-link throttle would answer 429 to a big share fetched flat out (the script waits
    # and retries): off, the runs measure the redirect itself.
    os.environ["SHARE_LINK_RATE"] = "off"
    with contextlib.ExitStack() as stack:
        url = ""
        if args.database_url:
            url = stack.enter_context(fresh_database(args.database_url, "dsm_bench_links"))
        scratch, endpoint, moto_pid = stack.enter_context(
            harness.session("dsm-bench-links-", url, counting_moto)
        )
        prepare()
        sets = harness.upload_sets(args)
        user = create_catalogue(sets)
        servers = [stack.enter_context(gunicorn(scratch, None))]
        if args.more_workers:
            servers.append(stack.enter_context(gunicorn(scratch, args.more_workers)))
        timings, steps = {}, []
        for data in sets:
            job = pull_through_link(data, user, servers[0].base)
            warm_up(job, servers)
            work = scratch / f"work-{data.name}"
            commands = tool_commands(job, data, work, endpoint, tools, servers)
            progress(f"Set {data.name}: {data.description}; downloading.")
            timings[data.name] = time_tools(
                commands, data, scratch, args.repeat, moto_pid, endpoint
            )
            if not steps:  # set A's objects: small, so a file's GET costs least
                steps = time_steps(job, servers[0].base, args.steps)
        about = facts(url, servers, tools, sets, args.repeat)
    harness.emit(
        [
            "## Share links",
            "",
            *harness.facts(load, about),
            "### Downloads",
            "",
            *harness.by_tool(sets, timings, "tool", ["s", "files/s", "MiB/s"], harness.speed),
            *harness.by_tool(sets, timings, "all runs", ["s"], harness.all_runs),
            "### Where the work went (each tool's best run)",
            "",
            *harness.by_tool(sets, timings, "tool", CPU_COLUMNS, cpu_cell),
            *harness.by_tool(sets, timings, "tool", REQUEST_COLUMNS, request_cell),
            "### What the link adds per file",
            "",
            *overhead_table(sets, timings),
            f"### One file request, step by step (ms, {args.steps} requests each, one client)",
            "",
            *table(["step", "median", "mean", "p90", "this process's CPU (mean)"], steps),
        ],
        args.output,
    )
    return 0


def counting_moto(port: int) -> list[str]:
    """moto's server counting the requests it serves (bench/moto_preloaded.py), empty."""
    return [sys.executable, "-m", "bench.moto_preloaded", str(port), BUCKET]


def prepare() -> None:
    """Migrate; the sharing bucket; this process's job and queue events kept off stderr."""
    import logging

    from django.conf import settings
    from django.core.management import call_command

    from sharing_project.s3.objects import ensure_bucket

    call_command("migrate", verbosity=0, interactive=False)
    ensure_bucket(settings.SHARING_BUCKET)
    for name in ("jobs.events", "django-q"):
        logging.getLogger(name).setLevel(logging.WARNING)


def facts(
    database_url: str, servers: list[Server], tools: harness.Tools, sets: list[DataSet], repeat
) -> dict[str, str]:
    from django.db import connection

    database = "SQLite (WAL)"
    if database_url:
        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            database = f"PostgreSQL {cursor.fetchone()[0].split()[0]} on 127.0.0.1"
    threads = os.environ.get("WEB_THREADS", "8")
    curl = harness.first_line(["curl", "--version"]).split(" (")[0]
    return {
        "Service": f"{harness.git_version('sharelinks', 'jobs', 'sharing_project', 'templates')}; "
        f"gunicorn (sharing_project.gunicorn_conf), {servers[0].workers} gthread workers x "
        f"{threads} threads"
        + (f", and one of {servers[1].workers} x {threads}" if len(servers) > 1 else "")
        + f", DEBUG off, LOG_LEVEL INFO (a line per request), SHARE_LINK_RATE off; {database}",
        "Tools": f"download script (--parallel 8), {tools.versions()}, {curl}",
        "Data": "; ".join(
            f"set {d.name} {d.description} ({d.total_bytes / 2**20:,.1f} MiB)" for d in sets
        ),
        "Runs": f"best of {repeat}, interleaved",
    }


# --- the service ----------------------------------------------------------------------------


@contextlib.contextmanager
def gunicorn(scratch: Path, workers: int | None):
    """gunicorn as `make run` starts it, with this process's database and S3, DEBUG off and the
    default log level (the service's line per request, which the runs count); `workers`
    WEB_WORKERS, or the default."""
    from django.conf import settings

    env = {k: v for k, v in os.environ.items() if not k.startswith(("WEB_", "LOG_", "GUNICORN_"))}
    env |= {"DEBUG": "false", "DSM_ENV_FILE": os.devnull, "PYTHONUNBUFFERED": "1"}
    if workers:
        env["WEB_WORKERS"] = str(workers)
    name = f"gunicorn-{workers or 'default'}.log"
    with web_server(env, scratch, name) as (base, pid):
        count = workers or int(os.environ.get("WEB_WORKERS", "2"))
        progress(f"gunicorn at {base}, {count} workers; DEBUG {settings.DEBUG} here.")
        yield Server(base, pid, scratch / name, count)


def pull_through_link(data: DataSet, user: object, base: str):
    """The real pull of the set's workflow run, its links through `base`: launched, then run
    by the job runner in this process (the queued task is left unserved: no cluster runs)."""
    from django.test import override_settings

    from jobs.models import Job
    from jobs.services import launch_job
    from jobs.tasks import run_job

    with override_settings(PUBLIC_BASE_URL=base):
        job = launch_job(config(portal_run_id(data), "pull"), dryrun=False, user=user)
        status = run_job(str(job.pk))
    job = Job.objects.get(pk=job.pk)
    if status != "SUCCEEDED" or job.objects_total != len(data.objects):
        lines = "\n".join(job.log_lines.values_list("message", flat=True))
        raise RuntimeError(f"pull {job.pk}: {status}, {job.objects_total} objects:\n{lines}")
    return job


def warm_up(job, servers: list[Server]) -> None:
    """Each server's threads all serve a few file requests first, untimed: a worker builds its
    S3 client and signer, and imports what it lazily imports, on its first requests."""
    from concurrent.futures import ThreadPoolExecutor

    import requests

    token = job.share_link.token
    for server in servers:
        threads = server.workers * int(os.environ.get("WEB_THREADS", "8"))

        def ask(position: int, base: str = server.base) -> int:
            url = f"{base}/s/{token}/files/{position % job.objects_total}"
            return requests.get(url, allow_redirects=False, timeout=60).status_code

        with ThreadPoolExecutor(threads) as pool:
            answers = set(pool.map(ask, range(4 * threads)))
        if answers != {302}:
            raise RuntimeError(f"{server.base} answered {answers} to the warm-up")


def tool_commands(
    job, data: DataSet, work: Path, endpoint: str, tools: harness.Tools, servers: list[Server]
) -> dict[str, Tool]:
    """The script fetched from the link with curl (and the same script naming the second
    gunicorn), the same share's script with presigned URLs, s5cmd and aws."""
    work.mkdir(parents=True)
    first = data.objects[0]
    root = job.job_objects.get(source_uri=data.uri(first)).relative_path.removesuffix(
        first.relative_path
    )
    link = work / "link.sh"
    harness.run_command(
        ["curl", "-fsS", "-o", str(link), f"{job.share_link.url}/data-download.sh"], "curl"
    )
    presigned = work / "presigned.sh"
    presigned.write_text(presigned_script(job))
    script = ["bash", "{script}", "--data-download-path", "{dest}"]

    def run(path: Path) -> list[str]:
        return [str(path) if arg == "{script}" else arg for arg in script]

    default = servers[0]
    commands = {
        "link": Tool(
            f"script through the share link (gunicorn {default.workers} workers)",
            run(link),
            root,
            default,
        )
    }
    for server in servers[1:]:
        other = work / f"link-{server.workers}.sh"
        other.write_text(link.read_text().replace(default.base, server.base))
        commands[f"link{server.workers}"] = Tool(
            f"script through the share link (gunicorn {server.workers} workers)",
            run(other),
            root,
            server,
        )
    commands |= {
        "presigned": Tool("script, presigned URLs", run(presigned), root, default),
        "s5cmd": Tool("s5cmd cp", tools.s5cmd_cp(endpoint, data.uri(), "{dest}/"), "", default),
        "aws": Tool(
            "aws s3 cp --recursive (CLI v1)",
            tools.aws_cp(endpoint, data.uri(), "{dest}/"),
            "",
            default,
        ),
    }
    return commands


def presigned_script(job) -> str:
    """The share's script as a pull writes it without PUBLIC_BASE_URL: its objects in order,
    each with a presigned URL living PRESIGNED_URL_LIFETIME_SECONDS."""
    from django.conf import settings

    from jobs.script import ScriptEntry, render_download_script
    from sharing_project.s3.presign import presigner

    objects = list(job.job_objects.order_by("position"))
    signer = presigner(settings.PRESIGNED_URL_LIFETIME_SECONDS)
    urls = signer.urls([item.source_uri for item in objects])
    entries = [
        ScriptEntry(o.relative_path, url, o.size, md5=o.md5, sha256=o.sha256)
        for o, url in zip(objects, urls, strict=True)
    ]
    return render_download_script(str(job.pk), entries, signer.expires_at)


# --- the runs -------------------------------------------------------------------------------


def served_so_far(server: Server, moto_pid: int, endpoint: str) -> Served:
    from sharelinks.models import ShareAccess

    durations = [float(ms) for ms in REQUEST_LINE.findall(server.log.read_text())]
    return Served(
        len(durations),
        sum(durations),
        ShareAccess.objects.count(),
        requests_served(endpoint),
        harness.session_cpu(moto_pid),
    )


def time_tools(
    commands: dict[str, Tool],
    data: DataSet,
    scratch: Path,
    repeat: int,
    moto_pid: int,
    endpoint: str,
) -> dict[str, LinkTiming]:
    """Every tool `repeat` times, interleaved, each run into a fresh folder that is checked,
    then removed, with what the service and S3 did during each run."""
    timings = {key: LinkTiming.of(tool.label, data) for key, tool in commands.items()}
    for attempt in range(repeat):
        for key, tool in commands.items():
            dest = scratch / f"dest-{uuid.uuid4().hex[:8]}"
            dest.mkdir()
            what = f"{tool.label} on set {data.name}"
            try:
                argv = [arg.replace("{dest}", str(dest)) for arg in tool.command]
                before = served_so_far(tool.server, moto_pid, endpoint)
                work = functools.partial(harness.run_command, argv, what)
                run = harness.timed(work, harness.children_cpu, tool.server.pid)
                time.sleep(0.2)  # the last request's log line
                timings[key].served.append(served_so_far(tool.server, moto_pid, endpoint) - before)
                check_download(data, dest / tool.root, what)
            finally:
                shutil.rmtree(dest, ignore_errors=True)
            timings[key].runs.append(run)
            progress(f"  set {data.name} run {attempt + 1}: {tool.label:<50} {run.seconds:7.2f} s")
    return timings


def time_steps(job, base: str, count: int) -> list[list[str]]:
    """Each step of one file request (sharelinks.views.SharedFileView) alone, then the whole
    request in this process and through gunicorn, then the GET it redirects to: `count` times
    each, over the share's first `count` files, one client, nothing else running."""
    import logging

    import requests
    from django.test import Client, RequestFactory

    from sharelinks.services import record_access
    from sharelinks.tokens import find_link
    from sharing_project.s3.archive import archive_state
    from sharing_project.s3.presign import fresh_url, presigner

    progress(f"One file request, step by step ({count} each).")
    logging.getLogger("ops.requests").setLevel(logging.WARNING)  # not a line each on stderr
    link, token = job.share_link, job.share_link.token
    objects = list(job.job_objects.order_by("position")[:count])
    objects = [objects[i % len(objects)] for i in range(count)]
    urls = presigner(3600).urls([item.source_uri for item in objects])
    request = RequestFactory().get(f"/s/{token}/files/0", HTTP_USER_AGENT="curl/7.88.1")
    client, session = Client(HTTP_HOST="127.0.0.1"), requests.Session()

    def through_gunicorn(i: int) -> None:
        url = f"{base}/s/{token}/files/{objects[i].position}"
        if session.get(url, allow_redirects=False, timeout=30).status_code != 302:
            raise RuntimeError("the share link did not redirect")

    steps: dict[str, Callable[[int], object]] = {
        "find the link by its token (1 SELECT)": lambda i: find_link(token),
        "find the file by its position (1 SELECT)": lambda i: job.job_objects.filter(
            position=objects[i].position
        ).first(),
        "HeadObject (archive_state)": lambda i: archive_state(objects[i].source_uri),
        "record the access (1 INSERT)": lambda i: record_access(
            request, link, "files/0", 302, job_object=objects[i], size=objects[i].size
        ),
        "presign the redirect (fresh_url)": lambda i: fresh_url(objects[i].source_uri),
        "the whole request in this process (Django test client)": lambda i: client.get(
            f"/s/{token}/files/{objects[i].position}"
        ),
        "the whole request through gunicorn (keep-alive, redirect not followed)": (
            through_gunicorn
        ),
        "the GET it redirects to, from S3 (a 4 KiB object)": lambda i: session.get(
            urls[i], timeout=30
        ).raise_for_status(),
    }
    rows = []
    for name, step in steps.items():
        step(0)  # a warm-up: a connection, a signer
        times, cpu = [], time.process_time()
        for i in range(count):
            started = time.perf_counter()
            step(i)
            times.append((time.perf_counter() - started) * 1000)
        cpu = (time.process_time() - cpu) * 1000 / count
        p90 = statistics.quantiles(times, n=10)[-1]
        middle = (statistics.median(times), statistics.mean(times), p90, cpu)
        rows.append([name, *(f"{t:.2f}" for t in middle)])
    return rows


# --- tables ---------------------------------------------------------------------------------

CPU_COLUMNS = ["wall s", "client CPU s", "gunicorn CPU s", "moto CPU s"]
REQUEST_COLUMNS = ["service requests", "access-log rows", "S3 requests", "Django ms (mean)"]


def cpu_cell(t: LinkTiming) -> str:
    r = t.best_run
    return (
        f"{r.seconds:.2f} | {r.client_cpu:.2f} | {r.server_cpu:.2f} | {t.best_served.moto_cpu:.2f}"
    )


def request_cell(t: LinkTiming) -> str:
    s = t.best_served
    mean = f"{s.django_ms / s.requests:.2f}" if s.requests else "-"
    return f"{s.requests:,} | {s.access_rows:,} | {s.s3_requests:,} | {mean}"


def overhead_table(sets: list[DataSet], timings: dict[str, dict[str, LinkTiming]]) -> list[str]:
    """Per set and link: (link's best - presigned's best) / files, and per service request
    gunicorn's CPU and the time in Django; the extra S3 requests and moto CPU per file."""
    rows = []
    for data in sets:
        t, presigned = timings[data.name], timings[data.name]["presigned"]
        plain = presigned.best_served
        for key in (k for k in t if k.startswith("link")):
            link = t[key].best_served
            files, run = len(data.objects), t[key].best_run
            rows.append(
                [
                    f"set {data.name}, {t[key].tool.removeprefix('script through the share ')}",
                    f"{files:,}",
                    f"{t[key].best:.2f}",
                    f"{presigned.best:.2f}",
                    f"{(t[key].best - presigned.best) / files * 1000:.2f}",
                    f"{run.server_cpu / link.requests * 1000:.2f}",
                    f"{link.django_ms / link.requests:.2f}",
                    f"{(link.s3_requests - plain.s3_requests) / files:.2f}",
                    f"{(link.moto_cpu - plain.moto_cpu) / files * 1000:.2f}",
                ]
            )
    header = [
        "link",
        "files",
        "link s",
        "presigned s",
        "extra ms per file (wall)",
        "gunicorn CPU ms per request",
        "Django ms per request",
        "extra S3 requests per file",
        "extra moto CPU ms per file",
    ]
    return table(header, rows)


if __name__ == "__main__":
    raise SystemExit(main())
