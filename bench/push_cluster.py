"""A real django-q2 worker cluster (`manage.py qcluster`) for the push benchmark: started as a
subprocess in its own session, its CPU summed over every process of that session, stopped with
SIGTERM to its main process (then SIGKILL to whatever is left of its process group)."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

ROOT = Path(__file__).resolve().parent.parent


class Cluster:
    """`manage.py qcluster` with `env`, its output in `log`."""

    def __init__(self, name: str, env: dict[str, str], log: Path) -> None:
        self.name = name
        self.env = env
        self.log = log
        self.process: subprocess.Popen | None = None

    @property
    def pid(self) -> int:
        if self.process is None:
            raise RuntimeError(f"cluster {self.name} is not started")
        return self.process.pid

    def start(self) -> Cluster:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "manage.py", "qcluster"],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    def stop(self) -> None:
        """SIGTERM to the main process only (it stops its workers in order), then SIGKILL to
        whatever is left of its process group."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=30)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def __enter__(self) -> Cluster:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def check_alive(self) -> None:
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(
                f"cluster {self.name} exited {self.process.returncode}:\n{self.tail()}"
            )

    def tail(self, characters: int = 4000) -> str:
        try:
            return self.log.read_text(errors="replace")[-characters:]
        except OSError:
            return "(no log)"

    def task_taken(self, name: str, timeout: float = 1.0) -> float | None:
        """When a worker took the task called `name` (a Unix time), from django-q2's
        "processing" line in the cluster's log (UTC: Django sets TZ from TIME_ZONE); None if
        no such line appears within `timeout` seconds."""
        pattern = re.compile(
            r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) INFO django-q .* processing "
            + re.escape(name)
            + " ",
            re.MULTILINE,
        )
        deadline = time.monotonic() + timeout
        while True:
            found = pattern.findall(self.log.read_text(errors="replace"))
            if found:
                taken = min(datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S,%f") for stamp in found)
                return taken.replace(tzinfo=UTC).timestamp()
            if time.monotonic() > deadline:
                return None
            time.sleep(0.05)

    def cpu(self) -> float:
        """CPU seconds used so far by the cluster's processes (and children they reaped)."""
        return session_cpu(self.pid)


def _session_members(session: int) -> list[tuple[int, list[str]]]:
    """(pid, /proc/pid/stat fields after the command name) of every process in a session."""
    members = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            text = Path(entry.path, "stat").read_text()
        except OSError:
            continue  # it exited meanwhile
        fields = text.rsplit(")", 1)[1].split()
        if int(fields[3]) == session:
            members.append((int(entry.name), fields))
    return members


def session_cpu(session: int) -> float:
    """user + system CPU seconds of a session's processes, plus that of children they waited
    for (a recycled django-q2 worker is counted in its parent once it is reaped)."""
    ticks = sum(
        int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])
        for _, fields in _session_members(session)
    )
    return ticks / os.sysconf("SC_CLK_TCK")
