"""The report: a Markdown section, printed and written to docs/benchmarks.md."""

from __future__ import annotations

import argparse
import os
import platform
import re
import subprocess
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

from bench.download import Timing
from bench.presign import PresignResults

HEADING = "## Download script and presigning"
SCRIPT_TARGET = 0.9  # script throughput ÷ the faster of s5cmd and the AWS CLI
SERIAL_TARGET = 3.0  # script throughput ÷ one curl process per file


def render(args: argparse.Namespace, results: dict) -> str:
    sets = results["sets"]
    timings: dict[str, dict[str, Timing]] = results["timings"]
    lines = [
        HEADING,
        "",
        "Reproduce with `make bench` (more runs: `make bench BENCH_ARGS=--repeat=5`; see "
        "`.venv/bin/python -m bench --help`). The code is in `bench/`.",
        "",
        *_setting(args, results),
        "",
        "### Downloads",
        "",
        *speed_table(sets, timings),
        "",
        "CPU seconds used during each best run by the tool's processes (bash, curl, s5cmd, "
        "aws), by the S3 server and by every other process on the machine (not the "
        f"benchmark's); with {cores()} cores, all of them together can use at most {cores()} "
        "times the wall time.",
        "",
        *cpu_table(sets, timings),
        "",
        "### Against the targets",
        "",
        *_ratio_table(sets, timings),
        "",
        "### The script's `--parallel`",
        "",
        *_sweep_table(sets, results["sweep"]),
        "",
        "### Where the script's time goes",
        "",
        *_phase_table(sets, results),
        "",
        "### Presigning",
        "",
        *_presign_table(results["presign"]),
        "",
        "### Interpretation",
        "",
        _interpretation(sets, timings, results),
        "",
    ]
    return "\n".join(lines)


def write_section(path: Path, section: str) -> None:
    """Replace this benchmark's section of the file (or add it), keeping any other section."""
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    start = text.find(HEADING + "\n")
    if start == -1:
        text = text.rstrip("\n") + "\n\n" + section
    else:
        following = text.find("\n## ", start + len(HEADING))
        rest = text[following + 1 :] if following != -1 else ""
        text = text[:start] + section + ("\n" + rest if rest else "")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text.rstrip("\n") + "\n")


# --- the setting ----------------------------------------------------------------------------


def _first_line(command: list[str]) -> str:
    try:
        result = subprocess.run(command, capture_output=True, text=True, check=False)
    except OSError:
        return "not found"
    return (result.stdout or result.stderr).strip().splitlines()[0]


def _memory() -> str:
    with open("/proc/meminfo") as meminfo:
        for line in meminfo:
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    return "unknown"


def _cpu() -> str:
    with open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _setting(args: argparse.Namespace, results: dict) -> list[str]:
    venv = args.tools_venv / "bin"
    nproc = _first_line(["nproc"])
    curl = _first_line(["curl", "--version"]).split(" (")[0]
    bash = re.sub(r" \(.*", "", _first_line(["bash", "--version"]))
    a, b = results["sets"]
    s5cmd = _first_line([str(venv / "s5cmd"), "version"])
    aws = _first_line([str(venv / "aws"), "--version"]).split(" Python")[0]
    return [
        f"- **Date:** {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        f"- **Machine:** `nproc` {nproc} ({_cpu()}), {_memory()} memory, "
        f"{platform.system()} {platform.release()}; Python {platform.python_version()}, "
        f"{curl}, {bash}",
        f"- **Server:** moto {version('moto')} S3 server (`python -m moto.server`, threaded "
        "werkzeug, objects in memory) on 127.0.0.1, a separate process on the same cores as "
        "the clients",
        f"- **Tools:** the project's download script (`templates/data-download.sh`, "
        f"{results['template']}; URLs from `sharing_project.s3.presign.presigner`); s5cmd {s5cmd}; "
        f"{aws}; both from "
        "`bench/requirements.txt` in `.venv-bench`, with their default concurrency",
        f"- **Data:** set A = {a.description} ({a.total_bytes / 2**20:.1f} MiB, 20 folders), "
        f"set B = {b.description} ({b.total_bytes / 2**20:.0f} MiB); each object one PUT, so its "
        "ETag is its MD5 and the script checks the MD5 of every file",
        "- **Load:** the machine is shared; load average "
        + ", ".join(f"{value:.2f}" for value in results["load_before"])
        + " at the start, "
        + ", ".join(f"{value:.2f}" for value in results["load_after"])
        + " at the end (the CPU table shows what other processes used during each best run)",
        f"- **Method:** wall-clock time of the tool's process, best of {args.repeat} runs, runs "
        "interleaved across tools; every run into a fresh empty folder, then checked (every "
        "file's size; about 100 files of set A byte for byte, the MD5 of one file of set B) "
        "and removed",
    ]


# --- tables ---------------------------------------------------------------------------------


def speed_table(sets: list, timings: dict[str, dict], unit: str = "files") -> list[str]:
    """Best time and throughput of each tool on each set, then every run's time."""
    header = "| tool |" + "".join(
        f" set {s.name} s | set {s.name} {unit}/s | set {s.name} MiB/s |" for s in sets
    )
    lines = [header, "|---|" + "---:|" * 3 * len(sets)]
    for key in timings[sets[0].name]:
        row = f"| {timings[sets[0].name][key].tool} |"
        for data in sets:
            t = timings[data.name][key]
            row += f" {t.best:.2f} | {t.files_per_second:,.0f} | {t.mib_per_second:,.1f} |"
        lines.append(row)
    lines += [
        "",
        "All runs (seconds): "
        + "; ".join(
            f"{t.tool}, set {d.name}: " + ", ".join(f"{run.seconds:.2f}" for run in t.runs)
            for d in sets
            for t in timings[d.name].values()
        )
        + ".",
    ]
    return lines


def cpu_table(sets: list, timings: dict[str, dict], client: str = "tool") -> list[str]:
    """Where the CPU went during each tool's best run on each set."""
    header = "| tool |" + "".join(
        f" set {d.name} wall s | {client} CPU s | server CPU s | others' CPU s |" for d in sets
    )
    lines = [header, "|---|" + "---:|" * 4 * len(sets)]
    for key in timings[sets[0].name]:
        row = f"| {timings[sets[0].name][key].tool} |"
        for data in sets:
            run = timings[data.name][key].best_run
            row += (
                f" {run.seconds:.2f} | {run.client_cpu:.2f} | {run.server_cpu:.2f} |"
                f" {run.other_cpu:.2f} |"
            )
        lines.append(row)
    return lines


def ratios(timings: dict[str, Timing], script_key: str = "script") -> tuple[float, str, float]:
    """(script ÷ faster of s5cmd and aws, which one, script ÷ serial curl), in throughput."""
    script = timings[script_key].best
    other = min(("s5cmd", "aws"), key=lambda key: timings[key].best)
    return timings[other].best / script, timings[other].tool, timings["serial"].best / script


def _met(value: float, target: float) -> str:
    return "**met**" if value >= target else "**missed**"


def _ratio_table(sets: list, timings: dict[str, dict[str, Timing]]) -> list[str]:
    lines = [
        "Ratios of throughput (the inverse ratio of the best times).",
        "",
        "| ratio | script | set | value | target | |",
        "|---|---|---|---:|---:|---|",
    ]
    for key, label in (("script", "default (--parallel 8)"), ("script16", "--parallel 16")):
        for data in sets:
            versus_tools, fastest, versus_serial = ratios(timings[data.name], key)
            tool = fastest.split(" ")[0]
            lines.append(
                f"| script ÷ faster of s5cmd and aws CLI ({tool}) | {label} | {data.name} | "
                f"{versus_tools:.2f} | ≥ {SCRIPT_TARGET} | {_met(versus_tools, SCRIPT_TARGET)} |"
            )
            lines.append(
                f"| script ÷ serial curl loop | {label} | {data.name} | {versus_serial:.2f} | "
                f"≥ {SERIAL_TARGET:.0f} | {_met(versus_serial, SERIAL_TARGET)} |"
            )
    return lines


def _sweep_table(sets: list, sweep: dict[str, dict[int, Timing]]) -> list[str]:
    lines = [
        "| --parallel |" + "".join(f" set {d.name} s | set {d.name} MiB/s |" for d in sets),
        "|---:|" + "---:|" * 2 * len(sets),
    ]
    for n in sorted(sweep[sets[0].name]):
        row = f"| {n}{' (default)' if n == 8 else ''} |"
        for data in sets:
            t = sweep[data.name][n]
            row += f" {t.best:.2f} | {t.mib_per_second:,.1f} |"
        lines.append(row)
    return lines


def _phase_table(sets: list, results: dict) -> list[str]:
    phases = results["phases"]
    per_process = results["process_start"]
    lines = [
        "One run per set with `--parallel 8` under `set -x`, a timestamp on every traced "
        "command (tracing slows the bash parts, so these add up to more than the untraced "
        "time).",
        "",
        "| phase |" + "".join(f" set {d.name} s |" for d in sets),
        "|---|" + "---:|" * len(sets),
    ]
    names = next((p.phases for p in phases.values() if p.phases), [])
    for i, (name, _) in enumerate(names):
        row = f"| {name} |"
        for data in sets:
            traced = phases[data.name].phases
            row += f" {traced[i][1]:.2f} |" if traced else " n/a |"
        lines.append(row)
    lines.append(
        "| whole traced run (untraced best) |"
        + "".join(
            f" {phases[d.name].traced_total:.2f} ({results['timings'][d.name]['script'].best:.2f})"
            " |"
            for d in sets
        )
    )
    if not names:
        lines.append("")
        lines.append("The trace did not show the expected steps (the script changed): no phases.")
    count = len(sets[0].objects)
    lines += [
        "",
        f"Starting one small process from bash (`mkdir -p` of an existing folder, {count:,} "
        f"times in a loop) costs {per_process * 1000:.2f} ms each here: "
        f"{per_process * count:.2f} s for one per file of set A.",
    ]
    return lines


def _presign_table(presign: PresignResults) -> list[str]:
    plain = presign.plain
    lines = [
        "| signer | URLs | best s | URLs/s | ÷ plain boto3 (target ≥ 1) |",
        "|---|---:|---:|---:|---|",
    ]
    for timing in [*presign.project, plain]:
        ratio = timing.per_second / plain.per_second
        verdict = "" if timing is plain else f"{ratio:.3f} {_met(ratio, 1.0)}"
        lines.append(
            f"| {timing.name} | {timing.count:,} | {timing.best:.2f} | "
            f"{timing.per_second:,.0f} | {verdict} |"
        )
    runs = "; ".join(
        f"{t.name.split(',')[0]}: " + ", ".join(f"{r:.2f}" for r in t.runs)
        for t in [*presign.project, plain]
    )
    others = max(max(t.others) for t in [*presign.project, plain])
    return [
        *lines,
        "",
        "Creating the Presigner (`presigner(3600)`: a boto3 session and client) and signing its "
        f"first URL takes {presign.setup * 1000:.0f} ms, once per job, outside the timed loop "
        "(the plain client is warmed up likewise); no request reaches S3. All runs (s): "
        f"{runs}. Other processes used at most {others:.1f} CPU-s during any of them.",
    ]


def _interpretation(sets: list, timings: dict[str, dict[str, Timing]], results: dict) -> str:
    """One paragraph, its claims computed from this run's numbers."""
    a, b = sets
    ta, tb = timings[a.name], timings[b.name]
    short = {"s5cmd": "s5cmd", "aws": "the AWS CLI"}
    targets = []
    for data in sets:
        t = timings[data.name]
        versus_tools, _, versus_serial = ratios(t)
        fastest = min(("s5cmd", "aws"), key=lambda key: t[key].best)
        tools_word = _verdict(versus_tools, SCRIPT_TARGET, [t["script"], t[fastest]])
        serial_word = _verdict(versus_serial, SERIAL_TARGET, [t["script"], t["serial"]])
        targets.append(
            f"set {data.name} {versus_tools:.2f} against the faster tool ({tools_word}) and "
            f"{versus_serial:.2f} against the serial loop ({serial_word})"
        )
    text = [
        f"Targets, with the script's default `--parallel 8`: {'; '.join(targets)}.",
        *_set_a_sentences(a, ta, results, short),
        *_set_b_sentences(b, tb, results),
        *_noise_sentences(sets, timings, results),
    ]
    return " ".join(text)


def _verdict(value: float, target: float, compared: list[Timing]) -> str:
    """met or missed, and whether the margin is inside the spread of the runs compared."""
    word = "met" if value >= target else "missed"
    spread = max(max(run.seconds for run in t.runs) / t.best - 1 for t in compared)
    if len(compared[0].runs) > 1 and abs(value / target - 1) <= spread:
        word += f", but within the {spread:.0%} spread of repeated runs"
    return word


def _phase(results: dict, data_set: str, index: int) -> float | None:
    phases = results["phases"][data_set].phases
    return phases[index][1] if phases else None


def _own_work(results: dict, data_set: str) -> tuple[float, float, str, float] | None:
    """From the traced run: (transfers, the script's own work, its largest part, seconds)."""
    phases = results["phases"][data_set].phases
    if not phases:
        return None
    transfers = phases[3][1]
    own = [(name, seconds) for i, (name, seconds) in enumerate(phases) if i != 3]
    name, largest = max(own, key=lambda phase: phase[1])
    return transfers, sum(seconds for _, seconds in own), name, largest


def _set_a_sentences(a, ta: dict[str, Timing], results: dict, short: dict) -> list[str]:
    n = len(a.objects)
    server = sorted(t.best_run.server_cpu for t in ta.values())[len(ta) // 2]
    per_request = server / n
    script, floor, serial = ta["script"], ta["curl8"], ta["serial"]
    fastest = min(("s5cmd", "aws"), key=lambda key: ta[key].best)
    floor_words = (
        "faster than any other tool"
        if floor.best <= ta[fastest].best
        else f"close to {short[fastest]}"
    )
    out = [
        f"Set A is bound by the S3 server: every tool makes the same {n:,} GETs and moto spends "
        f"about {server:.1f} s of CPU on them whatever the client ({per_request * 1000:.1f} ms "
        f"a request, at most about {1 / per_request:,.0f} requests/s from one Python process), "
        f"and the script's own transfer step run bare (8 parallel `curl --config`, "
        f"{floor.best:.2f} s) is {floor_words}: about the floor on this server.",
    ]
    sentence = (
        f"The script takes {script.best:.2f} s, {script.best - floor.best:.2f} s more than that "
        f"step ({script.best_run.client_cpu:.1f} s of CPU against "
        f"{floor.best_run.client_cpu:.1f} s)"
    )
    own = _own_work(results, a.name)
    if own:
        transfers, work, name, largest = own
        sentence += (
            f"; in its traced run the transfers take {transfers:.1f} s and its own work "
            f"{work:.1f} s, the largest part '{name}' ({largest:.2f} s)"
        )
    out.append(sentence + ".")
    versus_tools, _, versus_serial = ratios(ta)
    if versus_tools < SCRIPT_TARGET:
        out.append(
            f"Against {short[fastest]} it misses the {SCRIPT_TARGET} target by its own work: "
            f"its bare curl step alone scores {ta[fastest].best / floor.best:.2f}."
        )
    if versus_serial < SERIAL_TARGET:
        out.append(
            f"Against the serial loop it scores {versus_serial:.2f} where its bare curl step "
            f"scores {serial.best / floor.best:.2f}: the server caps what any client can gain "
            "over one process per file here, and the script's own work takes the rest."
        )
    sweep = results["sweep"][a.name]
    low, high = min(t.best for t in sweep.values()), max(t.best for t in sweep.values())
    out.append(
        f"`--parallel` from {min(sweep)} to {max(sweep)} gives {low:.1f} to {high:.1f} s on "
        "set A: "
        + (
            "more connections do not help when the server is the limit."
            if high / low < 1.25
            else "the differences follow the noise more than the setting."
        )
    )
    out.append(
        f"The serial loop itself ({serial.best:.1f} s) spends {serial.best_run.client_cpu:.1f} s "
        f"of CPU on {n:,} curl processes, each with its own start "
        f"(a small process costs {results['process_start'] * 1000:.1f} ms here) and connection."
    )
    return out


def _set_b_sentences(b, tb: dict[str, Timing], results: dict) -> list[str]:
    script, floor, serial = tb["script"], tb["curl8"], tb["serial"]
    mib = b.total_bytes / 2**20
    verify = _phase(results, b.name, 5)
    out = [
        f"On set B the script takes {script.best:.2f} s against {floor.best:.2f} s for its bare "
        "curl step; the difference is its check of every file: "
        + (f"its verify phase takes {verify:.2f} s of the traced run and " if verify else "")
        + f"it uses {script.best_run.client_cpu - floor.best_run.client_cpu:.1f} s more CPU "
        f"than the bare step, hashing all {mib:,.0f} MiB with md5sum, a check that s5cmd, the "
        "AWS CLI and the curl loop do not make at all (objects uploaded in parts have no MD5 "
        "ETag and skip it).",
        *_b_versus_tools(tb),
        f"The serial loop moves set B at {serial.mib_per_second:,.0f} MiB/s: on loopback a "
        "single stream is limited by CPU, not latency, and "
        f"{cores()} cores leave parallel streams little to add (the bare curl step scores "
        f"{serial.best / floor.best:.1f} against the serial loop), so no client reaches the "
        "≥ 3 target for large files here; that target is about per-request latency on a real "
        "network, which this setup does not have.",
    ]
    ranged = max(tb["s5cmd"].best_run.server_cpu, tb["aws"].best_run.server_cpu)
    if ranged > 1.5 * script.best_run.server_cpu and ranged - script.best_run.server_cpu > 0.2:
        out.append(
            "s5cmd and the AWS CLI fetch large objects in ranged parts, and moto reads the "
            "whole object for every part (server CPU "
            f"{tb['s5cmd'].best_run.server_cpu:.1f} s for s5cmd and "
            f"{tb['aws'].best_run.server_cpu:.1f} s for the AWS CLI against "
            f"{script.best_run.server_cpu:.1f} s for the script), a handicap they do not have "
            "on real S3."
        )
    return out


def _b_versus_tools(tb: dict[str, Timing]) -> list[str]:
    versus_tools, fastest, _ = ratios(tb)
    if versus_tools >= SCRIPT_TARGET:
        return []
    name = "s5cmd" if fastest.startswith("s5cmd") else "the AWS CLI"
    best = min(tb["s5cmd"].best, tb["aws"].best)
    return [
        f"Against {name}, which does not check, it misses the {SCRIPT_TARGET} target by that "
        f"check: its bare curl step alone scores {best / tb['curl8'].best:.2f}."
    ]


def _noise_sentences(sets: list, timings: dict[str, dict[str, Timing]], results: dict) -> list:
    others = max(t.best_run.other_cpu for d in sets for t in timings[d.name].values())
    repeated = len(timings[sets[0].name]["script"].runs) > 1
    spread = max(
        max(r.seconds for r in t.runs) / t.best - 1 for d in sets for t in timings[d.name].values()
    )
    if others >= 0.5:
        noise = (
            "The machine was shared during the run (other processes used up to "
            f"{others:.1f} CPU-s during a best run)"
        )
    else:
        noise = (
            f"Other processes were nearly idle during the best runs (at most {others:.1f} CPU-s)"
        )
    if repeated:
        noise += f"; repeated runs differ by up to {spread:.0%} and only the best is compared."
    else:
        noise += "; with one run each there is no measure of the noise."
    presign: PresignResults = results["presign"]
    plain = presign.plain
    project = max(presign.project, key=lambda timing: timing.per_second)
    ratio = project.per_second / plain.per_second
    if not repeated:
        verdict = "one run each, so nothing tells whether the difference is noise"
    elif max(project.runs) < min(plain.runs) or min(project.runs) > max(plain.runs):
        faster, slower = ("the Presigner", "boto3") if ratio > 1 else ("boto3", "the Presigner")
        verdict = (
            f"every run of {faster} was faster than every run of {slower}, so the "
            f"{abs(ratio - 1):.1%} difference is consistent, not noise"
        )
    else:
        verdict = "their runs overlap, so the difference is within the noise"
    return [
        noise,
        f"Presigning reaches {project.per_second:,.0f} URLs/s with the Presigner at best "
        f"({project.name.removeprefix('Presigner: ')}) and {plain.per_second:,.0f} with plain "
        f"boto3 ({ratio:.3f}, target ≥ 1 {_met(ratio, 1.0).strip('*')}): both spend nearly all "
        "their time in botocore's `generate_presigned_url` (endpoint resolution and SigV4 "
        "signing for every URL), which the Presigner calls once per URL as well; "
        f"{verdict}.",
    ]


def cores() -> int:
    return os.cpu_count() or 1
