"""`python -m bench`: the download script against s5cmd, the AWS CLI, a serial curl loop and
bare parallel curl on moto's S3 server; presigning speed.

Steps: start moto; upload set A (many small objects) and set B (a few large ones); per set, every
tool `--repeat` times, interleaved, each run into a fresh folder that is checked and removed;
presigning, the order of the signers rotating. Prints Markdown tables on stdout (progress on
stderr).
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import shutil
import time
import uuid
from pathlib import Path

from bench import harness
from bench.harness import BUCKET, DataSet, Timing, progress, table

TEMPLATE = harness.ROOT / "templates" / "data-download.sh"
QUICK = {"repeat": 1, "small_files": 200, "large_files": 2, "large_mib": 8, "presign_urls": 2000}
SERIAL_CURL = r"""
# One curl process per file, one file after another.
set -o errexit -o nounset
cd "$1"
while IFS=$'\t' read -r path url; do
  curl -fsS --create-dirs -o "$path" "$url"
done <"$2"
"""
CURL_CONFIGS = r"""
# The script's own transfer step without the script: a curl process per config file of
# url/output pairs, all at once, with the script's curl options.
cd "$1"
shift
for config in "$@"; do
  curl --silent --show-error --fail --continue-at - --create-dirs \
    --retry 5 --retry-delay 1 --retry-connrefused --connect-timeout 30 \
    --write-out '%{http_code}\t%{filename_effective}\n' --config "$config" >/dev/null &
done
for pid in $(jobs -p); do wait "$pid" || exit 1; done
"""


def main(argv: list[str] | None = None) -> int:
    def more(parser) -> None:
        parser.add_argument("--presign-urls", type=int, default=100_000, help="URLs to sign")
        parser.add_argument("--sweep", default="2,4,32", help="other --parallel values to try")

    args = harness.parse_args("python -m bench", __doc__, argv, QUICK, more)
    tools = harness.Tools.find(args.tools_venv, needs=("curl", "bash", "md5sum", "numfmt"))
    template, load = template_version(), os.getloadavg()
    sweep = sorted({8, 16, *(int(n) for n in args.sweep.split(",") if n.strip())})
    with harness.session("dsm-bench-") as (scratch, endpoint, server_pid):
        sets = harness.upload_sets(args)
        timings = {}
        for data in sets:
            progress(f"Set {data.name}: {data.description} uploaded; downloading.")
            commands = tool_commands(data, scratch / f"work-{data.name}", endpoint, tools, sweep)
            timings[data.name] = time_tools(commands, data, scratch, args.repeat, server_pid)
        presign = time_presigning(args.presign_urls, args.repeat)
    if template_version() != template:
        raise RuntimeError(f"{TEMPLATE} changed while the benchmark ran: run it again.")
    main_tools = {d: {k: t for k, t in ts.items() if k in MAIN_TOOLS} for d, ts in timings.items()}
    parallel = {d: {k: ts[k] for k in (f"script{n}" for n in sweep)} for d, ts in timings.items()}
    curl = harness.first_line(["curl", "--version"]).split(" (")[0]
    bash = re.sub(r" \(.*", "", harness.first_line(["bash", "--version"]))
    about = {
        "Tools": f"download script ({template}), {tools.versions()}, {curl}, {bash}",
        "Data": "; ".join(
            f"set {d.name} {d.description} ({d.total_bytes / 2**20:,.1f} MiB)" for d in sets
        ),
        "Runs": f"best of {args.repeat}, interleaved",
    }
    harness.emit(
        [
            "## Download script and presigning",
            "",
            *harness.facts(load, about),
            "### Downloads",
            "",
            *harness.tool_tables(sets, main_tools, "files", "tool"),
            "### Against the targets",
            "",
            *ratio_table(sets, timings),
            "### The script's `--parallel`",
            "",
            *harness.by_tool(sets, parallel, "--parallel", ["s", "MiB/s"], parallel_speed),
            "### Presigning",
            "",
            *presign_table(args.presign_urls, *presign),
        ],
        args.output,
    )
    return 0


def template_version() -> str:
    digest = hashlib.sha256(TEMPLATE.read_bytes()).hexdigest()[:12]
    return f"`templates/data-download.sh` sha256 {digest}, {harness.git_version(str(TEMPLATE))}"


# --- the downloads --------------------------------------------------------------------------

MAIN_TOOLS = ("script8", "script16", "curl8", "s5cmd", "aws", "serial")


def tool_commands(data: DataSet, work: Path, endpoint: str, tools, sweep: list[int]) -> dict:
    """key -> (label, command into "{dest}"): the script with the links the project signs
    (`--parallel` 8, 16 and `sweep`), bare parallel curl, s5cmd, aws, a serial curl loop."""
    from jobs.script import ScriptEntry, render_download_script
    from sharing_project.s3.presign import presigner

    work.mkdir(parents=True)
    signer = presigner(3600)
    urls = signer.urls([data.uri(item) for item in data.objects])
    entries = [
        ScriptEntry(item.relative_path, url, item.size, md5=item.md5)
        for item, url in zip(data.objects, urls, strict=True)
    ]
    script = work / "data-download.sh"
    script.write_text(render_download_script(str(uuid.uuid4()), entries, signer.expires_at))
    (work / "urls.tsv").write_text("".join(f"{e.relative_path}\t{e.url}\n" for e in entries))
    (work / "serial.sh").write_text(SERIAL_CURL)
    (work / "configs.sh").write_text(CURL_CONFIGS)
    configs = [str(work / f"curl-{n}.cfg") for n in range(min(8, len(entries)))]
    for n, config in enumerate(configs):  # round-robin, as the script splits its downloads
        pairs = (f'url = "{e.url}"\noutput = "{e.relative_path}"\n' for e in entries[n::8])
        Path(config).write_text("".join(pairs))
    labels = {8: "download script, default (--parallel 8)"}
    script_argv = ["bash", str(script), "--data-download-path", "{dest}", "--parallel"]
    commands = {
        f"script{n}": (labels.get(n, f"download script, --parallel {n}"), [*script_argv, str(n)])
        for n in sweep
    }
    commands |= {
        "curl8": (
            "curl only: 8 x curl --config (no script)",
            ["bash", str(work / "configs.sh"), "{dest}", *configs],
        ),
        "s5cmd": ("s5cmd cp", tools.s5cmd_cp(endpoint, data.uri(), "{dest}/")),
        "aws": ("aws s3 cp --recursive (CLI v1)", tools.aws_cp(endpoint, data.uri(), "{dest}/")),
        "serial": (
            "serial curl loop (1 process per file)",
            ["bash", str(work / "serial.sh"), "{dest}", str(work / "urls.tsv")],
        ),
    }
    return {key: commands[key] for key in sorted(commands, key=lambda key: key not in MAIN_TOOLS)}


def time_tools(
    commands: dict, data: DataSet, scratch: Path, repeat: int, server_pid: int
) -> dict[str, Timing]:
    """Every tool `repeat` times, interleaved (each once, then again), each run into a fresh
    empty folder that is checked, then removed."""
    timings = {key: Timing.of(label, data) for key, (label, _) in commands.items()}
    for attempt in range(repeat):
        for key, (label, command) in commands.items():
            dest = scratch / f"dest-{uuid.uuid4().hex[:8]}"
            dest.mkdir()
            what = f"{label} on set {data.name}"
            try:
                argv = [arg.replace("{dest}", str(dest)) for arg in command]
                work = functools.partial(harness.run_command, argv, what)
                run = harness.timed(work, harness.children_cpu, server_pid)
                check_download(data, dest, what)
            finally:
                shutil.rmtree(dest, ignore_errors=True)
            timings[key].runs.append(run)
            progress(f"  set {data.name} run {attempt + 1}: {label:<45} {run.seconds:7.2f} s")
    return timings


def check_download(data: DataSet, dest: Path, what: str) -> None:
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
    if not data.samples:  # set B
        first = data.objects[0]
        if hashlib.md5((dest / first.relative_path).read_bytes()).hexdigest() != first.md5:
            wrong.append(f"{first.relative_path}: MD5 differs")
    if wrong:
        raise RuntimeError(f"{what} did not download correctly:\n" + "\n".join(wrong[:20]))


# --- presigning -----------------------------------------------------------------------------

LOOP = "Presigner: `presigner(3600).url(uri)` in a loop"
BATCH = "Presigner: `presigner(3600).urls(uris)`, one call"
PLAIN = "boto3 `generate_presigned_url`, s3v4, reused client"


def time_presigning(count: int, repeat: int) -> tuple[dict[str, list[float]], float, float]:
    """The project's Presigner (a URL at a time, then all at once) against a plain, reused
    boto3 client, the order rotating from run to run: each one's runs (seconds), the best time
    to make a Presigner and sign its first URL (when botocore loads its models: not timed in
    the runs), and the most CPU seconds other processes used during a run."""
    import boto3
    from botocore.config import Config
    from django.conf import settings

    from sharing_project.s3.presign import presigner

    progress(f"Presigning {count:,} URLs.")
    keys = [f"presign/dir-{i % 100:02d}/sample-{i:06d}.fastq.gz" for i in range(count)]
    uris = [f"s3://{BUCKET}/{key}" for key in keys]
    plain = boto3.session.Session().client(
        "s3", endpoint_url=settings.AWS_ENDPOINT_URL, config=Config(signature_version="s3v4")
    )

    def sign_plain(key: str) -> str:
        params = {"Bucket": BUCKET, "Key": key}
        return plain.generate_presigned_url("get_object", Params=params, ExpiresIn=3600)

    sign_plain("warm-up")
    ways = {
        LOOP: lambda signer: [signer.url(uri) for uri in uris],
        BATCH: lambda signer: signer.urls(uris),
        PLAIN: lambda _: [sign_plain(key) for key in keys],
    }
    runs: dict[str, list[float]] = {name: [] for name in ways}
    setup, others = [], []
    for attempt in range(repeat):
        names = list(ways)[attempt % len(ways) :] + list(ways)[: attempt % len(ways)]
        for name in names:
            signer = None
            if name != PLAIN:
                start = time.perf_counter()
                signer = presigner(3600)
                signer.url(f"s3://{BUCKET}/warm-up")
                setup.append(time.perf_counter() - start)
            machine, own, start = harness.machine_cpu(), time.process_time(), time.perf_counter()
            ways[name](signer)
            runs[name].append(time.perf_counter() - start)
            others.append(harness.machine_cpu() - machine - (time.process_time() - own))
    return runs, min(setup), max(0.0, *others)


# --- tables ---------------------------------------------------------------------------------


def ratio_table(sets: list[DataSet], timings: dict[str, dict[str, Timing]]) -> list[str]:
    """Throughput ratios (the inverse ratio of the best times) that the targets are set on."""
    rows = []
    for key, label in (("script8", "script (--parallel 8)"), ("script16", "script --parallel 16")):
        faster, serial = [f"{label} / faster of s5cmd and aws"], [f"{label} / serial curl loop"]
        for data in sets:
            t = timings[data.name]
            other = min(("s5cmd", "aws"), key=lambda tool: t[tool].best)
            faster.append(f"{t[other].best / t[key].best:.2f}x ({other})")
            serial.append(f"{t['serial'].best / t[key].best:.2f}x")
        rows += [[*faster, "≥ 0.9x"], [*serial, "≥ 3x"]]
    return table(["throughput ratio", *[f"set {d.name}" for d in sets], "target"], rows)


def parallel_speed(t: Timing) -> str:
    return f"{t.best:.2f} | {t.mib_per_second:,.1f}"


def presign_table(count: int, runs: dict, setup: float, others: float) -> list[str]:
    plain, rows = min(runs[PLAIN]), []
    for name, seconds in runs.items():
        best = min(seconds)
        row = [name, f"{count:,}", f"{best:.2f}", f"{count / best:,.0f}", f"{plain / best:.3f}x"]
        rows.append([*row, ", ".join(f"{s:.2f}" for s in seconds)])
    header = ["signer", "URLs", "best s", "URLs/s", "/ plain boto3 (target ≥ 1x)", "all runs s"]
    return [
        *table(header, rows),
        f"- **Presigner set-up** (`presigner(3600)`, its first URL): {setup * 1000:.0f} ms",
        f"- **Others' CPU** (most during any run): {others:.1f} s",
        "",
    ]
