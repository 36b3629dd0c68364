"""Download a data set with each tool into a fresh folder, time it and check what arrived."""

from __future__ import annotations

import hashlib
import os
import resource
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.datasets import BUCKET, DataSet

SERIAL_CURL = r"""
# One curl process per file, one file after another.
set -o errexit -o nounset
cd "$1"
while IFS=$'\t' read -r path url; do
  curl -fsS --create-dirs -o "$path" "$url"
done <"$2"
"""

CURL_CONFIGS = r"""
# The script's own transfer step without the script: N curl processes, each given a config
# file of url/output pairs, with the script's curl options.
set -o nounset
cd "$1"
shift
pids=()
for config in "$@"; do
  curl --silent --show-error --fail --continue-at - --create-dirs \
    --retry 5 --retry-delay 1 --retry-connrefused --connect-timeout 30 \
    --write-out '%{http_code}\t%{filename_effective}\n' --config "$config" >/dev/null &
  pids+=("$!")
done
status=0
for pid in "${pids[@]}"; do
  wait "$pid" || status=1
done
exit "$status"
"""


@dataclass(frozen=True)
class Tool:
    """A way to download a data set: `command(dest)` is run with `env`."""

    name: str
    command: Callable[[Path], list[str]]
    env: dict[str, str]


@dataclass(frozen=True)
class Run:
    seconds: float  # wall clock
    client_cpu: float  # CPU seconds of the tool's processes (user + system)
    server_cpu: float  # CPU seconds of the S3 server meanwhile
    other_cpu: float  # CPU seconds of every other process on the machine meanwhile


class BestOfRuns:
    """The best of a tool's runs on a set (`runs`, `files`, `total_bytes`), in throughput."""

    runs: list
    files: int
    total_bytes: int

    @property
    def best_run(self):
        return min(self.runs, key=lambda run: run.seconds)

    @property
    def best(self) -> float:
        return self.best_run.seconds

    @property
    def files_per_second(self) -> float:
        return self.files / self.best

    @property
    def mib_per_second(self) -> float:
        return self.total_bytes / (1024 * 1024) / self.best


@dataclass(frozen=True)
class Timing(BestOfRuns):
    tool: str
    data_set: str
    runs: list[Run]
    files: int
    total_bytes: int


class Workbench:
    """The files each tool needs for one data set (script, URL list, configs), in `work`."""

    def __init__(self, data: DataSet, work: Path, endpoint: str, env: dict[str, str]) -> None:
        from jobs.script import ScriptEntry, render_download_script
        from sharing_project.s3.presign import presigner

        self.data = data
        self.work = work
        self.endpoint = endpoint
        self.env = env
        work.mkdir(parents=True)
        signer = presigner(3600)
        urls = [signer.url(data.uri(item)) for item in data.objects]
        entries = [
            ScriptEntry(item.relative_path, url, item.size, item.etag)
            for item, url in zip(data.objects, urls, strict=True)
        ]
        self.script = work / "data-download.sh"
        self.script.write_text(
            render_download_script(str(uuid.uuid4()), entries, expires_at=signer.expires_at)
        )
        self.url_list = work / "urls.tsv"
        self.url_list.write_text(
            "".join(f"{e.relative_path}\t{e.url}\n" for e in entries),
        )
        self.serial_curl = work / "serial-curl.sh"
        self.serial_curl.write_text(SERIAL_CURL)
        self.curl_configs = work / "curl-configs.sh"
        self.curl_configs.write_text(CURL_CONFIGS)
        self._entries = entries

    def write_curl_configs(self, workers: int) -> list[Path]:
        """The url/output pairs split round-robin over `workers` config files, as the script
        does (its paths are checked to hold no quote or backslash, so none is escaped here)."""
        workers = min(workers, len(self._entries))
        configs = [self.work / f"curl-{workers}.{w}.cfg" for w in range(workers)]
        lines: list[list[str]] = [[] for _ in configs]
        for n, entry in enumerate(self._entries):
            lines[n % workers].append(f'url = "{entry.url}"\noutput = "{entry.relative_path}"\n')
        for config, text in zip(configs, lines, strict=True):
            config.write_text("".join(text))
        return configs

    def script_tool(self, parallel: int | None, name: str | None = None) -> Tool:
        option = [] if parallel is None else ["--parallel", str(parallel)]
        label = name or f"download script, --parallel {parallel or 8}"
        return Tool(
            label,
            lambda dest: ["bash", str(self.script), "--data-download-path", str(dest), *option],
            self.env,
        )

    def s5cmd_tool(self, s5cmd: Path) -> Tool:
        source = f"s3://{BUCKET}/{self.data.prefix}*"
        return Tool(
            "s5cmd cp",
            lambda dest: [
                str(s5cmd),
                "--endpoint-url",
                self.endpoint,
                "--log",
                "error",
                "cp",
                source,
                f"{dest}/",
            ],
            self.env,
        )

    def aws_tool(self, aws: Path) -> Tool:
        source = f"s3://{BUCKET}/{self.data.prefix}"
        return Tool(
            "aws s3 cp --recursive (CLI v1)",
            lambda dest: [
                str(aws),
                "--endpoint-url",
                self.endpoint,
                "s3",
                "cp",
                "--recursive",
                "--only-show-errors",
                source,
                f"{dest}/",
            ],
            self.env,
        )

    def serial_curl_tool(self) -> Tool:
        return Tool(
            "serial curl loop (1 process per file)",
            lambda dest: ["bash", str(self.serial_curl), str(dest), str(self.url_list)],
            self.env,
        )

    def curl_configs_tool(self, workers: int) -> Tool:
        configs = [str(path) for path in self.write_curl_configs(workers)]
        return Tool(
            f"curl only: {workers} x curl --config (no script)",
            lambda dest: ["bash", str(self.curl_configs), str(dest), *configs],
            self.env,
        )


def time_tool(
    tools: list[Tool], data: DataSet, scratch: Path, repeat: int, server_pid: int
) -> list[Timing]:
    """Best of `repeat` runs of each tool, the runs interleaved (every tool once, then again),
    each into a fresh empty folder that is checked, then removed."""
    scratch.mkdir(exist_ok=True)
    runs: list[list[Run]] = [[] for _ in tools]
    for attempt in range(repeat):
        for tool, tool_runs in zip(tools, runs, strict=True):
            run = _run_once(tool, data, scratch, server_pid)
            tool_runs.append(run)
            print(
                f"  set {data.name} run {attempt + 1}: {tool.name:<52} {run.seconds:7.2f} s "
                f"(CPU s: tool {run.client_cpu:5.2f}, server {run.server_cpu:5.2f}, "
                f"others {run.other_cpu:5.2f})",
                flush=True,
            )
    return [
        Timing(tool.name, data.name, tool_runs, len(data.objects), data.total_bytes)
        for tool, tool_runs in zip(tools, runs, strict=True)
    ]


def _run_once(tool: Tool, data: DataSet, scratch: Path, server_pid: int) -> Run:
    dest = scratch / f"dest-{uuid.uuid4().hex[:8]}"
    dest.mkdir()
    try:
        command = tool.command(dest)
        machine_before = machine_cpu()
        server_before = process_cpu(server_pid)
        children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        result = subprocess.run(command, env=tool.env, capture_output=True, text=True)
        elapsed = time.perf_counter() - start
        children_after = resource.getrusage(resource.RUSAGE_CHILDREN)
        server_cpu = process_cpu(server_pid) - server_before
        machine = machine_cpu() - machine_before
        if result.returncode != 0:
            raise RuntimeError(
                f"{tool.name} on set {data.name} exited {result.returncode}:\n"
                f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
            )
        check_download(data, dest, tool.name)
    finally:
        shutil.rmtree(dest, ignore_errors=True)
    client_cpu = (children_after.ru_utime + children_after.ru_stime) - (
        children_before.ru_utime + children_before.ru_stime
    )
    other_cpu = max(0.0, machine - client_cpu - server_cpu)
    return Run(elapsed, client_cpu, server_cpu, other_cpu)


def machine_cpu() -> float:
    """CPU seconds all processors have spent busy since boot (every state but idle), /proc."""
    with open("/proc/stat") as stat:
        fields = [int(value) for value in stat.readline().split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) a running process has used so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def check_download(data: DataSet, dest: Path, tool: str) -> None:
    """Every file there with its size; the sampled files (or the first file) byte for byte."""
    wrong = []
    for item in data.objects:
        path = dest / item.relative_path
        size = path.stat().st_size if path.is_file() else None
        if size != item.size:
            wrong.append(f"{item.relative_path}: size {size}, expected {item.size}")
    for relative_path, body in data.samples.items():
        if (dest / relative_path).read_bytes() != body:
            wrong.append(f"{relative_path}: content differs")
    if not data.samples:
        first = data.objects[0]
        digest = hashlib.md5()
        with (dest / first.relative_path).open("rb") as stream:
            while chunk := stream.read(1 << 20):
                digest.update(chunk)
        if digest.hexdigest() != first.md5:
            wrong.append(f"{first.relative_path}: MD5 differs")
    if wrong:
        listing = "\n".join(wrong[:20])
        raise RuntimeError(f"{tool} did not download set {data.name} correctly:\n{listing}")
