"""`make bench-load`: the API and the console under load, on a job of a million objects.

Steps: create a PostgreSQL database of its own and migrate it; write a finished pull job of N
objects straight into it (seed_job) and an operator with an API token; start gunicorn with the
settings `make run` uses, on a free loopback port; time, from one client, the admin's job page
and the first and last pages of the job's objects; run locust headless (.venv-bench): U clients
for T seconds reading the job's status and its first, middle and last object pages, once as
polling clients (a pause between requests) and once flat out; print Markdown tables.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import math
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.harness import emit, facts, git_version, progress, table  # noqa: E402

DEFAULT_DATABASE = "postgres://postgres@127.0.0.1:5432/dsm_bench_load"
PASSWORD = "bench-load-password"  # noqa: S105 (a throw-away database)
GUNICORN = [sys.executable, "-m", "gunicorn", "-c", "python:sharing_project.gunicorn_conf"]
PACES = {"polling (0.5-1.5 s between requests)": "0.5-1.5", "flat out (no pause)": "0"}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__)
    parser.add_argument("--objects", type=int, default=1_000_000, help="objects of the job")
    parser.add_argument("--users", type=int, default=50, help="concurrent clients")
    parser.add_argument(
        "--duration", type=seconds, default="30", help="seconds each locust run measures"
    )
    parser.add_argument(
        "--spawn-rate",
        type=float,
        help="clients started a second, the statistics counted once all run (default: all "
        "at once and counted from the start, so the first requests arrive together)",
    )
    parser.add_argument("--repeat", type=int, default=20, help="single-client timings per page")
    parser.add_argument("--database-url", default=DEFAULT_DATABASE, help="created if missing")
    parser.add_argument("--tools-venv", type=Path, default=ROOT / ".venv-bench")
    parser.add_argument("--output", type=Path, help="also write the tables to this file")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    locust = args.tools_venv / "bin" / "locust"
    if not locust.exists():
        progress(f"{locust} is missing: `make bench-load` installs it (bench/requirements.txt).")
        return 1
    load_before = os.getloadavg()
    scratch = Path(tempfile.mkdtemp(prefix="bench-load-", dir="/tmp"))
    env = setup_django(args.database_url, scratch)
    progress(f"Seeding a job of {args.objects} objects (seed_scale --job-objects)...")
    started = time.monotonic()
    job_id = seed_job(args.objects)
    progress(f"Job {job_id} ready in {time.monotonic() - started:.0f} s.")
    token = operator_token()
    with web_server(env, scratch) as (base, _pid):
        single = single_client(base, job_id, args.objects, args.repeat)
        runs = {
            pace: run_locust(locust, base, job_id, token, args, wait, scratch)
            for pace, wait in PACES.items()
        }
    workers, threads = env.get("WEB_WORKERS", "2"), env.get("WEB_THREADS", "8")
    lines = [
        f"## The API and console under load: a job of {args.objects:,} objects",
        "",
        *facts(
            load_before,
            {
                "Server": f"gunicorn, {workers} gthread workers x {threads} threads, DEBUG off; "
                f"PostgreSQL {server_version()} on 127.0.0.1",
                "Code": git_version("jobs", "sharing_project", "bench"),
                "Clients": f"locust {locust_version(locust)}, {args.users} users, "
                f"{args.duration} s measured a run, on the same machine; "
                + (
                    "all started at once"
                    if args.spawn_rate is None
                    else f"started {args.spawn_rate:g} a second, counted once all ran"
                ),
            },
        ),
        "### One client (ms)",
        "",
        *table(
            ["page", "first", "median", "max"],
            [[name, *(f"{t:.0f}" for t in times)] for name, times in single.items()],
        ),
    ]
    for pace, rows in runs.items():
        lines += [f"### {args.users} clients, {pace}", "", *table(LOCUST_HEADER, rows)]
    emit(lines, args.output)
    return 0


# --- the database ---------------------------------------------------------------------------


def setup_django(database_url: str, scratch: Path) -> dict[str, str]:
    """Create the database if missing, point this process at it (nothing from the caller's
    environment or data/embedded.env), start Django and migrate. Returns the environment the
    web server gets."""
    import psycopg

    name = database_url.rsplit("/", 1)[1]
    if name in ("", "postgres"):
        raise SystemExit("--database-url must name a database of the benchmark's own")
    with psycopg.connect(database_url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as pg:
        if not pg.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            pg.execute(f'CREATE DATABASE "{name}"')
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DSM_", "DJANGO_", "DATABASE_", "DEBUG"))
    }
    env |= {
        "DJANGO_SETTINGS_MODULE": "sharing_project.settings",
        "DATABASE_URL": database_url,
        "SECRET_KEY": "bench-only",
        "DSM_ENV_FILE": os.devnull,
        "DSM_DATA_DIR": str(scratch),
        "DEBUG": "false",
        "LOG_LEVEL": "WARNING",
        # Plain http on loopback, with no TLS proxy in front (docs/deploy.md).
        "SECURE_SSL_REDIRECT": "false",
        "SESSION_COOKIE_SECURE": "false",
        "CSRF_COOKIE_SECURE": "false",
        # One token drives every client flat out: the per-user throttle (600/minute by
        # default) would answer most requests 429; off, the numbers stay comparable.
        "API_THROTTLE_RATE": "off",
    }
    os.environ.clear()
    os.environ.update(env)
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    return env


def seed_job(n: int) -> str:
    """The SUCCEEDED pull of `n` objects that `manage.py seed_scale --job-objects N` writes
    straight to the database (COPY on PostgreSQL); the same job again if it is there."""
    from catalogue.scale import DEFAULT_BUCKET
    from jobs.scale import seed_finished_pull

    return str(seed_finished_pull(DEFAULT_BUCKET, n).job.pk)


def operator_token() -> str:
    from django.contrib.auth.models import User
    from rest_framework.authtoken.models import Token

    from sharing_project.roles import OPERATORS, ensure_groups

    user, _ = User.objects.get_or_create(username="bench-operator")
    user.is_staff = True
    user.set_password(PASSWORD)
    user.save()
    user.groups.add(ensure_groups()[OPERATORS])
    return Token.objects.get_or_create(user=user)[0].key


def server_version() -> str:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        return cursor.fetchone()[0].split()[0]


# --- the web server and the clients ---------------------------------------------------------


@contextlib.contextmanager
def web_server(
    env: dict[str, str], scratch: Path, log_name: str = "gunicorn.log"
) -> Iterator[tuple[str, int]]:
    """gunicorn as `make run` starts it, on a free loopback port, in its own session (its
    output in `scratch`/`log_name`). Yields its address and its pid (its session's id)."""
    import requests

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = scratch / log_name
    with log.open("ab") as out:
        server = subprocess.Popen(
            [*GUNICORN, "--bind", f"127.0.0.1:{port}"],
            env=env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"gunicorn did not start:\n{log.read_text()}")
            with contextlib.suppress(requests.ConnectionError):
                requests.get(f"{base}/admin/login/", timeout=5)
                break
            time.sleep(0.2)
        yield base, server.pid
    finally:
        server.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            server.wait(timeout=15)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGKILL)


def single_client(base: str, job_id: str, n: int, repeat: int) -> dict[str, list[float]]:
    """Milliseconds of each page asked alone: the first time, then the median and the worst of
    `repeat` more. The admin page's first time also counts and stores the job's totals."""
    import requests
    from rest_framework.authtoken.models import Token

    browser = requests.Session()
    login = browser.get(f"{base}/admin/login/", timeout=30)
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login.text)[1]
    browser.post(
        f"{base}/admin/login/?next=/admin/",
        data={"username": "bench-operator", "password": PASSWORD, "csrfmiddlewaretoken": csrf},
        headers={"Referer": f"{base}/admin/login/"},
        timeout=30,
    ).raise_for_status()
    api = requests.Session()
    token = Token.objects.get(user__username="bench-operator").key
    api.headers["Authorization"] = f"Token {token}"
    objects = f"{base}/api/v1/jobs/{job_id}/objects?pageSize=100"
    pages = {
        "admin job page": (browser, f"{base}/admin/jobs/job/{job_id}/change/"),
        "admin job page, last objects": (
            browser,
            f"{base}/admin/jobs/job/{job_id}/change/?page={-(-n // 50)}",
        ),
        "job status (API)": (api, f"{base}/api/v1/jobs/{job_id}"),
        "objects: first page (API)": (api, objects),
        "objects: last page (API)": (api, f"{objects}&after={n - 101}"),
    }
    timings = {}
    for name, (client, url) in pages.items():
        times = []
        for _ in range(repeat + 1):
            started = time.perf_counter()
            response = client.get(url, timeout=60)
            times.append((time.perf_counter() - started) * 1000)
            response.raise_for_status()
        timings[name] = [times[0], statistics.median(times[1:]), max(times[1:])]
        progress(f"{name}: first {times[0]:.0f} ms, median {timings[name][1]:.0f} ms")
    return timings


LOCUST_HEADER = ["request", "requests", "errors", "p50 ms", "p99 ms", "max ms", "req/s"]


def seconds(text: str) -> int:
    """Seconds, as `30` or `30s`."""
    return int(text.removesuffix("s"))


def locust_timing(args: argparse.Namespace) -> list[str]:
    """locust's -u, -r and -t: all clients at once, measured from the start; or, with
    --spawn-rate, a ramp first and then --duration seconds measured (--reset-stats)."""
    if args.spawn_rate is None:
        return ["-u", str(args.users), "-r", str(args.users), "-t", f"{args.duration}s"]
    ramp = math.ceil(args.users / args.spawn_rate)
    run = f"{args.duration + ramp}s"
    return ["-u", str(args.users), "-r", str(args.spawn_rate), "-t", run, "--reset-stats"]


def run_locust(
    locust: Path,
    base: str,
    job_id: str,
    token: str,
    args: argparse.Namespace,
    wait: str,
    scratch: Path,
) -> list[list[object]]:
    """One headless locust run; its statistics as table rows (the total last)."""
    prefix = scratch / f"locust-{wait}"
    progress(f"locust: {args.users} users for {args.duration} s, waiting {wait} s...")
    env = os.environ | {
        "BENCH_JOB_ID": job_id,
        "BENCH_OBJECTS": str(args.objects),
        "BENCH_TOKEN": token,
        "BENCH_WAIT": wait,
    }
    subprocess.run(
        [
            *(str(locust), "-f", str(ROOT / "bench" / "locustfile.py"), "--headless"),
            *locust_timing(args),
            *("--host", base, "--csv", str(prefix), "--only-summary", "--loglevel", "WARNING"),
        ],
        env=env,
        check=False,  # it exits 1 when a request failed: the table says so
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    with open(f"{prefix}_stats.csv") as stats:
        rows = list(csv.DictReader(stats))
    return [
        [
            row["Name"],
            row["Request Count"],
            row["Failure Count"],
            row["50%"],
            row["99%"],
            f"{float(row['Max Response Time']):.0f}",
            f"{float(row['Requests/s']):.0f}",
        ]
        for row in rows
    ]


def locust_version(locust: Path) -> str:
    shown = subprocess.run([str(locust), "--version"], capture_output=True, text=True, check=False)
    return (shown.stdout or shown.stderr).split()[1] if shown.stdout or shown.stderr else "?"


if __name__ == "__main__":
    sys.exit(main())
