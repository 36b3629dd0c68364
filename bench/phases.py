"""Where the download script's time goes: one run traced with timestamps, and the cost of
starting one small process (such as `mkdir -p`) from bash."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

TRACED = r"""
exec 9>"$1"
BASH_XTRACEFD=9
PS4='+${EPOCHREALTIME} '
script=$2
shift 2
set -x
# shellcheck disable=SC1090
. "$script" "$@"
"""

PHASES = [
    "read the file list",
    "check paths, plan (realpath, stat)",
    "prepare the downloads in bash (staging folders, curl configs)",
    "transfers (the curl processes)",
    "read curl's results",
    "verify (stat, md5sum)",
    "move into place (mv), summary",
]
_LINE = re.compile(r"^\++(\d+\.\d+) (.*)$")


@dataclass(frozen=True)
class Phases:
    traced_total: float
    phases: list[tuple[str, float]]  # empty when the trace did not show the markers


def trace_script(script: Path, scratch: Path, env: dict[str, str], parallel: int) -> Phases:
    """One run of the script under `set -x` with a timestamp on every traced command."""
    dest = scratch / f"traced-{uuid.uuid4().hex[:8]}"
    dest.mkdir()
    trace = scratch / "trace.txt"
    wrapper = scratch / "traced.sh"
    wrapper.write_text(TRACED)
    try:
        start = time.perf_counter()
        subprocess.run(
            [
                "bash",
                str(wrapper),
                str(trace),
                str(script),
                "--data-download-path",
                str(dest),
                "--parallel",
                str(parallel),
            ],
            env=env,
            check=True,
            capture_output=True,
        )
        total = time.perf_counter() - start
        return Phases(total, _phases(trace))
    finally:
        shutil.rmtree(dest, ignore_errors=True)
        trace.unlink(missing_ok=True)


def _phases(trace: Path) -> list[tuple[str, float]]:
    """PHASES with their seconds, from the commands the script's shell traced at each step.

    The curl processes run in the background and trace their own line when they start, which
    may come after the shell's `wait` in the file: the first of them marks the start of the
    transfers, and the shell's first command after `wait` (not a curl line) their end.
    """
    stamps: list[tuple[float, str]] = []
    with trace.open(errors="replace") as lines:
        for line in lines:
            match = _LINE.match(line)
            if match:
                stamps.append((float(match[1]), match[2]))
    try:
        total = _find(stamps, 0, "total=")
        round_start = _find(stamps, total, "download_round ")
        waited = _find(stamps, round_start, "wait")  # not "wait PID": the transfers' own
        after_wait = next(
            i for i in range(waited + 1, len(stamps)) if not stamps[i][1].startswith("curl ")
        )
        verify = _find(stamps, after_wait, "verify ")
        move = _find(stamps, verify, "declare -A by_dir")
    except (LookupError, StopIteration):
        return []  # the script changed shape: no breakdown rather than a wrong one
    launch = min(
        (stamp for stamp, command in stamps[round_start:verify] if command.startswith("curl ")),
        default=stamps[waited][0],
    )
    edges = [
        stamps[0][0],
        stamps[total][0],
        stamps[round_start][0],
        launch,
        stamps[after_wait][0],
        stamps[verify][0],
        stamps[move][0],
        stamps[-1][0],
    ]
    return [(name, edges[i + 1] - edges[i]) for i, name in enumerate(PHASES)]


def _find(stamps: list[tuple[float, str]], start: int, command: str) -> int:
    """The index of the first traced command from `start` on that is `command` or begins
    with `command` (give a trailing space or `=` to match a command with arguments)."""
    for index in range(start, len(stamps)):
        if stamps[index][1] == command or stamps[index][1].startswith(command):
            return index
    raise LookupError(command)


def process_start_cost(count: int) -> float:
    """Seconds per `mkdir -p` of an existing folder, run `count` times from a bash loop."""
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        subprocess.run(
            [
                "bash",
                "-c",
                'for ((i = 0; i < $1; i++)); do mkdir -p -- "$2/a/b"; done',
                "_",
                str(count),
                folder,
            ],
            check=True,
        )
        return (time.perf_counter() - start) / count
