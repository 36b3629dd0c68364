"""The collaborator's download script, run with bash against the real S3 server on loopback
(and, where S3 on loopback cannot stage the case, a small local HTTP server); every test
checks the bytes on disk."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from catalogue.models import WorkflowRun
from jobs.models import JobObject
from jobs.script import ScriptEntry, render_download_script
from sharing_project.s3.objects import get_object_bytes, put_object
from tests.support.file_server import FileServer, Served

pytestmark = [pytest.mark.django_db, pytest.mark.e2e]  # bash, curl, shellcheck

ONE_LIBRARY = {"libraryIdList": ["L2400003"], "dataTypeList": ["Fastq", "SecondaryAnalysis"]}


def run(script: Path, *args: str, cwd: Path | None = None, timeout: float = 60):
    return subprocess.run(
        ["bash", str(script), *args], capture_output=True, text=True, cwd=cwd, timeout=timeout
    )


def shared(job: dict) -> dict[str, bytes]:
    """relative path -> the source object's bytes, for every object of the job."""
    return {
        o.relative_path: get_object_bytes(o.source_uri)
        for o in JobObject.objects.filter(job_id=job["id"])
    }


def files_under(root: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(root)): path.read_bytes() for path in root.rglob("*") if path.is_file()
    }


@pytest.fixture
def target(tmp_path) -> Path:
    folder = tmp_path / "download"
    folder.mkdir()
    return folder


@pytest.fixture
def file_server():
    server = FileServer().start()
    yield server
    server.stop()


def local_script(tmp_path: Path, entries: list[ScriptEntry], *, expires_in: float = 86400) -> Path:
    script = tmp_path / "local.sh"
    expires = datetime.now(UTC) + timedelta(seconds=expires_in)
    script.write_text(
        render_download_script("7f0c3a52-8d8e-4b53-9d0a-2f4b8c1d9e10", entries, expires)
    )
    return script


def entry(server: FileServer, path: str, body: bytes, *, etag: str | None = None) -> ScriptEntry:
    return ScriptEntry(
        path, server.url("/" + path), len(body), etag or hashlib.md5(body).hexdigest()
    )


# --- the whole path: pull, fetch, run -------------------------------------------------------


def test_script_downloads_every_file_byte_identical_at_its_relative_path(pull, target):
    job, script, _ = pull(projectIdList=["CUP"], dataTypeList=["Fastq", "SecondaryAnalysis"])
    result = run(script, "--data-download-path", str(target))
    assert result.returncode == 0, result.stderr
    expected = shared(job)
    assert files_under(target) == expected
    assert f"Downloaded: {len(expected)} file(s)" in result.stdout
    assert "Failed:     0 file(s)" in result.stdout
    assert "links valid until" in result.stderr


def test_generated_script_passes_shellcheck(pull):
    _, script, _ = pull(**ONE_LIBRARY)
    result = subprocess.run(["shellcheck", str(script)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def test_help_describes_every_option(pull):
    _, script, _ = pull(**ONE_LIBRARY)
    result = run(script, "--help")
    assert result.returncode == 0
    for option in (
        "--data-download-path",
        "--dryrun",
        "--dry-run",
        "--check-size-only",
        "--skip-existing",
        "--print-summary",
        "--parallel",
    ):
        assert option in result.stdout
    assert run(script, "-h").stdout == result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "--data-download-path is required"),
        (("--data-download-path",), "--data-download-path needs a directory"),
        (
            ("--data-download-path", "/no/such/folder"),
            "is not an existing directory; create it first",
        ),
        (("--data-download-path", "{target}", "--verbose"), "unknown option '--verbose'"),
        (
            ("--data-download-path", "{target}", "--parallel", "0"),
            "--parallel must be a number from 1 to 64",
        ),
        (("--data-download-path", "{target}", "--parallel=many"), "--parallel must be a number"),
    ],
)
def test_bad_options_are_errors_not_ignored(pull, target, args, message):
    _, script, _ = pull(**ONE_LIBRARY)
    result = run(script, *(a.replace("{target}", str(target)) for a in args))
    assert result.returncode == 2
    assert message in result.stderr
    assert files_under(target) == {}


@pytest.mark.parametrize("flag", ["--dryrun", "--dry-run"])
def test_dry_run_prints_directories_and_commands_and_downloads_nothing(pull, target, flag):
    job, script, _ = pull(**ONE_LIBRARY)
    result = run(script, "--data-download-path", str(target), flag)
    assert result.returncode == 0, result.stderr
    assert list(target.iterdir()) == []
    expected = shared(job)
    assert result.stdout.count("curl --fail") == len(expected)
    assert (
        f"mkdir -p -- {target}/fastq/240115_A01052_0185_AHJLMNDSXA/Lane_3/L2400003" in result.stdout
    )
    assert "X-Amz-Signature" not in result.stdout  # the credential part is never printed
    assert f"Dry run: {len(expected)} file(s)" in result.stdout


def test_print_summary_counts_files_and_bytes_and_exits(pull, target):
    job, script, _ = pull(**ONE_LIBRARY)
    expected = shared(job)
    result = run(script, "--data-download-path", str(target), "--print-summary")
    assert result.returncode == 0
    assert f"Files to download: {len(expected)} " in result.stdout
    assert f"Total bytes:       {sum(map(len, expected.values()))}" in result.stdout
    assert list(target.iterdir()) == []


def first_fastq(expected: dict[str, bytes]) -> str:
    return sorted(path for path in expected if path.startswith("fastq/"))[0]


def test_skip_existing_keeps_existing_files_whatever_their_size(pull, target):
    job, script, _ = pull(**ONE_LIBRARY)
    expected = shared(job)
    kept = target / first_fastq(expected)
    kept.parent.mkdir(parents=True)
    kept.write_bytes(b"mine")
    result = run(script, "--data-download-path", str(target), "--skip-existing")
    assert result.returncode == 0, result.stderr
    assert kept.read_bytes() == b"mine"
    assert files_under(target) == expected | {first_fastq(expected): b"mine"}
    assert "Skipped:    1 file(s)" in result.stdout


def test_check_size_only_skips_same_size_and_replaces_other_sizes(pull, target):
    job, script, _ = pull(**ONE_LIBRARY)
    expected = shared(job)
    same, other = sorted(p for p in expected if p.startswith("fastq/"))[:2]
    for path, body in ((same, b"x" * len(expected[same])), (other, b"short")):
        (target / path).parent.mkdir(parents=True, exist_ok=True)
        (target / path).write_bytes(body)
    result = run(script, "--data-download-path", str(target), "--check-size-only")
    assert result.returncode == 0, result.stderr
    assert (target / same).read_bytes() == b"x" * len(expected[same])  # same size: trusted
    assert (target / other).read_bytes() == expected[other]
    assert "Skipped:    1 file(s)" in result.stdout


def test_without_skip_options_existing_files_are_downloaded_again(pull, target):
    job, script, _ = pull(**ONE_LIBRARY)
    expected = shared(job)
    stale = target / first_fastq(expected)
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"x" * len(expected[first_fastq(expected)]))
    assert run(script, "--data-download-path", str(target)).returncode == 0
    assert files_under(target) == expected


def test_options_combine(pull, target):
    job, script, _ = pull(**ONE_LIBRARY)
    expected = shared(job)
    existing = first_fastq(expected)
    (target / existing).parent.mkdir(parents=True)
    (target / existing).write_bytes(expected[existing])
    summary = run(
        script, "--check-size-only", "--print-summary", "--data-download-path", str(target)
    )
    assert f"Files to download: {len(expected) - 1} " in summary.stdout
    assert "Files skipped:     1 " in summary.stdout
    dry = run(script, "--skip-existing", "--dry-run", f"--data-download-path={target}")
    assert dry.stdout.count("curl --fail") == len(expected) - 1
    real = run(script, "--skip-existing", "--parallel", "2", "--data-download-path", str(target))
    assert real.returncode == 0
    assert files_under(target) == expected
    again = run(script, "--check-size-only", "--data-download-path", str(target))
    assert f"Skipped:    {len(expected)} file(s)" in again.stdout


def test_a_second_run_with_check_size_only_downloads_nothing(pull, target):
    job, script, _ = pull(**ONE_LIBRARY)
    assert run(script, "--data-download-path", str(target)).returncode == 0
    again = run(script, "--data-download-path", str(target), "--check-size-only")
    assert "Downloaded: 0 file(s)" in again.stdout
    assert files_under(target) == shared(job)


# --- parallel, resume, verification ---------------------------------------------------------


def test_parallel_downloads_use_several_connections(tmp_path, target, file_server):
    bodies = {f"set/file-{n:03d}.bin": os.urandom(2048 + n) for n in range(60)}
    for path, body in bodies.items():
        file_server.files["/" + path] = Served(body)
    script = local_script(tmp_path, [entry(file_server, p, b) for p, b in bodies.items()])
    result = run(script, "--data-download-path", str(target), "--parallel", "4")
    assert result.returncode == 0, result.stderr
    assert files_under(target) == bodies
    connections = {port for _, _, port in file_server.requests}
    assert len(connections) == 4  # four curl processes, each reusing its connection
    assert len(file_server.requests) == len(bodies)


def test_an_interrupted_download_resumes_where_it_stopped(tmp_path, target, file_server):
    body = os.urandom(256 * 1024)
    file_server.files["/big/reads.fastq.gz"] = Served(body, stall_after=100 * 1024)
    script = local_script(tmp_path, [entry(file_server, "big/reads.fastq.gz", body)])
    first = subprocess.Popen(
        ["bash", str(script), "--data-download-path", str(target)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
        # Killed with SIGKILL, the script cannot remove its work folder: keep it in tmp_path.
        env={**os.environ, "TMPDIR": str(tmp_path)},
    )
    partial = target / "big" / ".dsm-partial" / "reads.fastq.gz"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and (
        not partial.exists() or partial.stat().st_size < 64 * 1024
    ):
        time.sleep(0.1)
    os.killpg(first.pid, signal.SIGKILL)  # as if the machine lost power
    first.wait(timeout=10)
    received = partial.stat().st_size
    assert 64 * 1024 <= received <= 100 * 1024
    assert not (target / "big" / "reads.fastq.gz").exists()  # never in place half-written

    second = run(script, "--data-download-path", str(target))
    assert second.returncode == 0, second.stderr
    assert (target / "big" / "reads.fastq.gz").read_bytes() == body
    assert file_server.requests[-1][1] == f"bytes={received}-"  # only the rest was fetched
    assert not partial.parent.exists()


def test_a_corrupted_partial_file_is_caught_and_fetched_again(pull, target):
    job, script, _ = pull(**ONE_LIBRARY)
    expected = shared(job)
    path = first_fastq(expected)
    staging = target / Path(path).parent / ".dsm-partial" / Path(path).name
    staging.parent.mkdir(parents=True)
    staging.write_bytes(b"\0" * len(expected[path]))  # complete in size, wrong in content
    result = run(script, "--data-download-path", str(target))
    assert result.returncode == 0, result.stderr
    assert "Retrying 1 file(s)" in result.stderr
    assert files_under(target) == expected


def test_wrong_bytes_from_the_server_fail_the_file_by_name(tmp_path, target, file_server):
    good, bad = b"good data\n", b"evil data\n"
    file_server.files["/a/good.txt"] = Served(good)
    file_server.files["/a/bad.txt"] = Served(bad)
    entries = [
        entry(file_server, "a/good.txt", good),
        entry(file_server, "a/bad.txt", bad, etag=hashlib.md5(b"other").hexdigest()),
    ]
    result = run(local_script(tmp_path, entries), "--data-download-path", str(target))
    assert result.returncode == 1
    assert "a/bad.txt: MD5 " in result.stderr
    assert "Failed:     1 file(s)" in result.stdout
    assert files_under(target) == {"a/good.txt": good}
    assert len([r for r in file_server.requests if r[0] == "/a/bad.txt"]) == 2  # retried once


def test_a_multipart_object_is_checked_by_size(tmp_path, target, file_server):
    body = os.urandom(5000)
    file_server.files["/m/multi.bin"] = Served(body)
    multipart = ScriptEntry(
        "m/multi.bin", file_server.url("/m/multi.bin"), len(body), "0" * 32 + "-3"
    )
    assert multipart.md5 == "-"
    result = run(local_script(tmp_path, [multipart]), "--data-download-path", str(target))
    assert result.returncode == 0, result.stderr
    assert (target / "m" / "multi.bin").read_bytes() == body


def test_a_refused_link_is_reported_with_a_non_zero_exit(tmp_path, target, file_server):
    ok = b"fine\n"
    file_server.files["/r/ok.txt"] = Served(ok)
    file_server.files["/r/denied.txt"] = Served(b"secret", status=403)
    entries = [entry(file_server, "r/ok.txt", ok), entry(file_server, "r/denied.txt", b"secret")]
    result = run(local_script(tmp_path, entries), "--data-download-path", str(target))
    assert result.returncode == 1
    assert "r/denied.txt: HTTP 403: the link has expired or was altered" in result.stderr
    assert files_under(target) == {"r/ok.txt": ok}
    assert len([r for r in file_server.requests if r[0] == "/r/denied.txt"]) == 1  # not retried


def test_an_expired_script_says_so_and_downloads_nothing(tmp_path, target, file_server):
    file_server.files["/e/x.txt"] = Served(b"x")
    script = local_script(tmp_path, [entry(file_server, "e/x.txt", b"x")], expires_in=-60)
    result = run(script, "--data-download-path", str(target))
    assert result.returncode == 3
    assert "the links expired on" in result.stderr
    assert "Ask the data provider for new links" in result.stderr
    assert file_server.requests == []
    summary = run(script, "--data-download-path", str(target), "--print-summary")
    assert summary.returncode == 0
    assert "expired" in summary.stderr


# --- hostile names and paths ----------------------------------------------------------------

HOSTILE = [
    "$(touch {canary}).txt",
    "`touch {canary}`.txt",
    "; touch {canary}; .txt",
    'quote\'s "double" {{x}}.txt',
    "-rf --no-preserve-root",
    "caf\u00e9 \u65e5\u672c space.txt",
    "back\\slash.txt",
]


def test_hostile_keys_download_to_their_own_path_and_run_nothing(
    launch, fresh_demo, operator_client, tmp_path, target
):
    canary = tmp_path / "CANARY"
    run_ = WorkflowRun.objects.filter(workflow_name="rnasum").first()
    names = [name.format(canary=canary) for name in HOSTILE]
    for name in names:
        put_object(run_.output_uri + name, f"content of {name}".encode())
    response = launch(
        portalRunIdList=[run_.portal_run_id], dataTypeList=["SecondaryAnalysis"], shareType="pull"
    )
    job = operator_client.get(response.json()["url"]).json()
    assert job["status"] == "SUCCEEDED", job
    script = tmp_path / "hostile.sh"
    subprocess.run(
        ["curl", "-fsS", "-o", str(script), job["outputs"]["dataDownloadScript"]["url"]], check=True
    )
    assert subprocess.run(["shellcheck", str(script)], capture_output=True).returncode == 0
    for args in (("--dryrun",), ("--print-summary",), ()):
        result = run(script, "--data-download-path", str(target), *args, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
    folder = f"secondary-analysis/rnasum/{run_.portal_run_id}/"
    downloaded = files_under(target)
    for name in names:
        assert downloaded[folder + name] == f"content of {name}".encode()
    assert not canary.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["download", "hostile.sh"])


def test_the_generator_refuses_paths_that_leave_the_folder():
    for path in ("../up.txt", "/etc/passwd", "a/./b", "a//b", "tab\there"):
        with pytest.raises(ValueError, match=r"segment|control|absolute"):
            render_download_script(
                "7f0c3a52-8d8e-4b53-9d0a-2f4b8c1d9e10",
                [ScriptEntry(path, "https://example.org/x", 1, "-")],
                datetime.now(UTC),
            )


def test_a_tampered_file_list_cannot_write_outside_the_folder(tmp_path, target, file_server):
    file_server.files["/t/ok.txt"] = Served(b"ok")
    script = local_script(tmp_path, [entry(file_server, "t/ok.txt", b"ok")])
    text = script.read_text()
    line = next(ln for ln in text.splitlines() if "\tt/ok.txt\t" in ln)
    evil = line.replace("\tt/ok.txt\t", "\t../escaped.txt\t")
    script.write_text(text.replace(line, line + "\n" + evil))
    result = run(script, "--data-download-path", str(target))
    assert result.returncode == 1
    assert "refused: the path '../escaped.txt' would leave the download folder" in result.stderr
    assert not (tmp_path / "escaped.txt").exists()
    assert files_under(target) == {"t/ok.txt": b"ok"}


def test_a_symbolic_link_in_the_folder_cannot_lead_outside(tmp_path, target, file_server):
    outside = tmp_path / "outside"
    outside.mkdir()
    (target / "t").symlink_to(outside)
    file_server.files["/t/x.txt"] = Served(b"x")
    script = local_script(tmp_path, [entry(file_server, "t/x.txt", b"x")])
    result = run(script, "--data-download-path", str(target))
    assert result.returncode == 1
    assert "leads outside the download folder" in result.stderr
    assert list(outside.iterdir()) == []
