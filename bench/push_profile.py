"""Where a push's CPU goes: py-spy, when it is installed, samples the worker cluster (all its
processes) and the S3 server during one extra push, recording only the thread of each process
that holds the GIL, so the samples show the Python work that cannot run in parallel."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

RATE = 100  # samples per second

# (group, substrings of a frame's file): a sample is put in the group of its innermost frame
# that matches a rule (the stdlib frames it runs in on behalf of a library are skipped).
Rules = list[tuple[str, tuple[str, ...]]]
CLUSTER_RULES: Rules = [
    ("botocore: SigV4 signing", ("botocore/auth.py", "botocore/signers.py")),
    ("botocore: parse the response (XML)", ("botocore/parsers.py", "xml/etree")),
    ("botocore: build and validate the request", ("botocore/serialize.py", "botocore/validate")),
    (
        "HTTP client (urllib3, http.client, sockets)",
        (
            "urllib3/",
            "http/client.py",
            "socket.py",
            "botocore/awsrequest.py",
            "botocore/httpsession.py",
        ),
    ),
    ("botocore: other (events, endpoint rules, retries)", ("botocore/", "boto3/")),
    ("database (Django ORM, SQLite)", ("django/db/", "sqlite3/")),
    ("django-q2 (broker, pusher, monitor)", ("django_q/",)),
    ("thread pool and queues", ("concurrent/futures", "threading.py", "queue.py")),
    ("the project's push code", ("jobs/", "sharing_project/", "shares/")),
]
SERVER_RULES: Rules = [
    ("moto: find the backend for each request (moto/backends.py)", ("moto/backends.py",)),
    ("moto: S3 model (keys, copies, storage)", ("moto/s3/models.py", "tempfile.py")),
    (
        "moto: parse the request, dispatch",
        (
            "moto/s3/responses.py",
            "moto/core/responses.py",
            "moto/core/request.py",
            "moto/core/utils.py",
            "moto/moto_server/",
        ),
    ),
    ("moto: serialize the response", ("moto/core/serialize.py", "jinja2/", "xmltodict")),
    ("moto: other", ("moto/", "botocore/", "boto3/")),
    (
        "HTTP server (werkzeug, flask, socketserver)",
        ("werkzeug/", "flask/", "socketserver.py", "http/server.py", "socket.py", "selectors.py"),
    ),
    ("a thread per connection (threading)", ("threading.py",)),
]
RULES = {"cluster": CLUSTER_RULES, "server": SERVER_RULES}
OTHER = "other"


def find_py_spy(explicit: Path | None, venvs: list[Path]) -> Path | None:
    """py-spy given on the command line, else on PATH or in one of the venvs, else None."""
    if explicit is not None:
        if not os.access(explicit, os.X_OK):
            raise SystemExit(f"--py-spy {explicit} is not an executable")
        return explicit
    found = shutil.which("py-spy")
    if found:
        return Path(found)
    for venv in venvs:
        candidate = venv / "bin" / "py-spy"
        if os.access(candidate, os.X_OK):
            return candidate
    return None


@dataclass
class Profile:
    """Samples by group, for the worker cluster and for the S3 server."""

    version: str
    path: Path
    cluster: Counter = field(default_factory=Counter)
    server: Counter = field(default_factory=Counter)
    push_seconds: float = 0.0  # the profiled push, slower than an unprofiled one
    errors: list[str] = field(default_factory=list)

    def shares(self, which: str) -> dict[str, float]:
        counts: Counter = getattr(self, which)
        total = sum(counts.values()) or 1
        return {group: count / total for group, count in counts.most_common()}


class Recorder:
    """Two `py-spy record` processes (cluster with its subprocesses, server) while in use."""

    def __init__(self, py_spy: Path, cluster_pid: int, server_pid: int, scratch: Path) -> None:
        self.py_spy = py_spy
        self.targets = {"cluster": (cluster_pid, True), "server": (server_pid, False)}
        self.outputs = {name: scratch / f"py-spy-{name}.txt" for name in self.targets}
        self.logs = {name: scratch / f"py-spy-{name}.log" for name in self.targets}
        self.processes: dict[str, subprocess.Popen] = {}

    def __enter__(self) -> Recorder:
        for name, (pid, children) in self.targets.items():
            command = [
                str(self.py_spy),
                "record",
                "--pid",
                str(pid),
                "--gil",
                "--nonblocking",
                "--rate",
                str(RATE),
                "--format",
                "raw",
                "--output",
                str(self.outputs[name]),
            ]
            if children:
                command.append("--subprocesses")
            with self.logs[name].open("wb") as log:
                self.processes[name] = subprocess.Popen(
                    command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
                )
        time.sleep(1)  # py-spy attaches
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGINT)  # py-spy writes its output, then exits
        for process in self.processes.values():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()

    def result(self) -> Profile:
        version = subprocess.run(
            [str(self.py_spy), "--version"], capture_output=True, text=True, check=False
        ).stdout.strip()
        profile = Profile(version, self.py_spy)
        for name in self.targets:
            output = self.outputs[name]
            if not output.exists():
                profile.errors.append(f"{name}: {self.logs[name].read_text()[-500:]}")
                continue
            setattr(profile, name, group_samples(output.read_text(), RULES[name]))
        return profile


def group_samples(raw: str, rules: Rules) -> Counter:
    """py-spy's raw output (`frame;frame;... count` per line) counted by group."""
    counts: Counter = Counter()
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = [frame for frame in stack.split(";") if not frame.startswith("process ")]
        counts[_group(frames, rules)] += int(count)
    return counts


def _group(frames: list[str], rules: Rules) -> str:
    for frame in reversed(frames):
        where = frame.rpartition("(")[2]
        for group, needles in rules:
            if any(needle in where for needle in needles):
                return group
    return OTHER
