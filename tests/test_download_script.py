"""The collaborator's download script, run with bash against the real S3 server on loopback
(and, where S3 on loopback cannot stage the case, a small local HTTP server); every test
checks the bytes on disk. Also the checksum lists that go beside the script."""

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
from jobs.script import ScriptEntry, render_checksum_files, render_download_script
from sharing_project.s3.objects import get_object_bytes, put_object
from tests.support.file_server import FileServer, Served

pytestmark = [pytest.mark.django_db, pytest.mark.e2e]  # bash, curl, shellcheck

ONE_LIBRARY = {"libraryIdList": ["L2400003"], "dataTypeList": ["Fastq", "SecondaryAnalysis"]}


def run(
    script: Path,
    *args: str,
    cwd: Path | None = None,
    timeout: float = 60,
    env: dict[str, str] | None = None,
):
    return subprocess.run(
        ["bash", str(script), *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=timeout,
        env=env,
    )


def shared(job: dict) -> dict[str, bytes]:
    """relative path -> the source object's bytes, for every object of the job."""
    return {
        o.relative_path: get_object_bytes(o.source_uri)
        for o in JobObject.objects.filter(job_id=job["id"])
    }


LISTS = ("checksums.md5", "checksums.sha256")


def files_under(root: Path) -> dict[str, bytes]:
    """Every file below root but the checksum lists the script writes at its top."""
    return {
        str(path.relative_to(root)): path.read_bytes()
        for path in root.rglob("*")
        if path.is_file() and path.relative_to(root).parts not in ((LISTS[0],), (LISTS[1],))
    }


def flipped(body: bytes, at: int = 0) -> bytes:
    """body with one bit of one byte changed."""
    return body[:at] + bytes([body[at] ^ 1]) + body[at + 1 :]


def md5_of(body: bytes) -> str:
    return hashlib.md5(body).hexdigest()


def sha256_of(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


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


def entry(
    server: FileServer, path: str, body: bytes, *, md5: str | None = None, sha256: str | None = None
) -> ScriptEntry:
    """The entry of a file the server holds: its checksums are those of body unless given
    ("" for none)."""
    return ScriptEntry(
        path,
        server.url("/" + path),
        len(body),
        md5=md5_of(body) if md5 is None else md5,
        sha256=sha256_of(body) if sha256 is None else sha256,
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
    check = subprocess.run(["md5sum", "-c", "--quiet", "checksums.md5"], cwd=target)
    assert check.returncode == 0
    assert len((target / "checksums.md5").read_text().splitlines()) == len(expected)


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
        "--verify-only",
        "--parallel",
        "--no-space-check",
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
    summary = run(script, "--data-download-path", str(target), "--skip-existing", "--print-summary")
    assert "Files skipped:     1 (" in summary.stdout
    assert "), unchecked (--skip-existing)" in summary.stdout
    result = run(script, "--data-download-path", str(target), "--skip-existing")
    assert result.returncode == 0, result.stderr
    assert kept.read_bytes() == b"mine"
    assert files_under(target) == expected | {first_fastq(expected): b"mine"}
    assert "Skipped:    1 file(s)" in result.stdout
    assert "unchecked (--skip-existing)" in result.stdout


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
    assert "unchecked (--check-size-only: same size)" in result.stdout


def test_without_skip_options_an_existing_file_of_the_right_size_is_checked(pull, target):
    job, script, _ = pull(**ONE_LIBRARY)
    expected = shared(job)
    stale = target / first_fastq(expected)
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"x" * len(expected[first_fastq(expected)]))
    result = run(script, "--data-download-path", str(target))
    assert result.returncode == 0, result.stderr
    assert f"{first_fastq(expected)}: MD5 differs: expected " in result.stderr
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


def interrupt(script: Path, target: Path, tmp_path: Path, partial: Path) -> int:
    """Run the script until its staging file holds at least 64 KiB, then kill it as if the
    machine lost power; returns how many bytes the staging file holds."""
    first = subprocess.Popen(
        ["bash", str(script), "--data-download-path", str(target)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
        # Killed with SIGKILL, the script cannot remove its work folder: keep it in tmp_path.
        env={**os.environ, "TMPDIR": str(tmp_path)},
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and (
        not partial.exists() or partial.stat().st_size < 64 * 1024
    ):
        time.sleep(0.1)
    os.killpg(first.pid, signal.SIGKILL)
    first.wait(timeout=10)
    return partial.stat().st_size


def test_an_interrupted_download_resumes_where_it_stopped(tmp_path, target, file_server):
    body = os.urandom(256 * 1024)
    file_server.files["/big/reads.fastq.gz"] = Served(body, stall_after=100 * 1024)
    script = local_script(tmp_path, [entry(file_server, "big/reads.fastq.gz", body)])
    partial = target / "big" / ".dsm-partial" / "reads.fastq.gz"
    received = interrupt(script, target, tmp_path, partial)
    assert 64 * 1024 <= received <= 100 * 1024
    assert not (target / "big" / "reads.fastq.gz").exists()  # never in place half-written

    second = run(script, "--data-download-path", str(target))
    assert second.returncode == 0, second.stderr
    assert (target / "big" / "reads.fastq.gz").read_bytes() == body
    assert file_server.requests[-1][1] == f"bytes={received}-"  # only the rest was fetched
    assert not partial.parent.exists()


@pytest.mark.parametrize("checksum", ["sha256", "md5"])
def test_a_resumed_file_is_checked_whole_and_a_flipped_early_byte_is_caught(
    tmp_path, target, file_server, checksum
):
    """A resumed file was trusted by its size: a byte changed in the part fetched before the
    interruption went unseen."""
    body = os.urandom(256 * 1024)
    # The first, interrupted transfer delivers a changed byte early on; the server then
    # serves the right bytes, to the resumed request and to any later one.
    file_server.files["/big/reads.bam"] = Served(flipped(body, 1000), stall_after=100 * 1024)
    only = {"md5": {"sha256": ""}, "sha256": {"md5": ""}}[checksum]
    script = local_script(tmp_path, [entry(file_server, "big/reads.bam", body, **only)])
    partial = target / "big" / ".dsm-partial" / "reads.bam"
    received = interrupt(script, target, tmp_path, partial)
    file_server.files["/big/reads.bam"] = Served(body)

    second = run(script, "--data-download-path", str(target))
    assert second.returncode == 0, second.stderr
    name, value = {"md5": ("MD5", md5_of), "sha256": ("SHA-256", sha256_of)}[checksum]
    caught = f"{name} differs: expected {value(body)}, got {value(flipped(body, 1000))}"
    assert f"big/reads.bam: {caught}: fetching it again" in second.stderr
    # Resumed after the bytes it had, then, caught, fetched again whole.
    assert [r[1] for r in file_server.requests] == ["", f"bytes={received}-", ""]
    assert (target / "big" / "reads.bam").read_bytes() == body
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


@pytest.mark.parametrize("checksum", ["sha256", "md5"])
def test_a_flipped_byte_from_the_server_fails_the_file_by_name(
    tmp_path, target, file_server, checksum
):
    """Each checksum catches one changed bit: the file is named with both values, never put
    in place, fetched once more, and the exit code is 1."""
    good, body = b"good data\n", os.urandom(3000)
    file_server.files["/a/good.txt"] = Served(good)
    file_server.files["/a/bad.bin"] = Served(flipped(body, 1234))
    only = {"md5": {"sha256": ""}, "sha256": {"md5": ""}}[checksum]
    bad = entry(file_server, "a/bad.bin", body, **only)
    entries = [entry(file_server, "a/good.txt", good, **only), bad]
    result = run(local_script(tmp_path, entries), "--data-download-path", str(target))
    assert result.returncode == 1
    name = {"md5": "MD5", "sha256": "SHA-256"}[checksum]
    expected, actual = getattr(bad, checksum), {"md5": md5_of, "sha256": sha256_of}[checksum]
    assert (
        f"a/bad.bin: {name} differs: expected {expected}, got {actual(flipped(body, 1234))}"
        in result.stderr
    )
    assert "Failed:     1 file(s)" in result.stdout
    assert files_under(target) == {"a/good.txt": good}  # nor left in staging
    assert len([r for r in file_server.requests if r[0] == "/a/bad.bin"]) == 2  # retried once


def test_sha256_is_checked_when_a_line_has_both(tmp_path, target, file_server):
    body = os.urandom(2000)
    file_server.files["/b/both.bin"] = Served(flipped(body))
    # The MD5 matches what is served, the SHA-256 does not: the SHA-256 decides.
    both = entry(file_server, "b/both.bin", body, md5=md5_of(flipped(body)))
    result = run(local_script(tmp_path, [both]), "--data-download-path", str(target))
    assert result.returncode == 1
    assert f"b/both.bin: SHA-256 differs: expected {sha256_of(body)}" in result.stderr


def test_a_multipart_object_is_checked_by_its_sha256(tmp_path, target, file_server):
    """A multipart object's ETag is no MD5: was checked by size only."""
    body = os.urandom(5000)
    file_server.files["/m/multi.bin"] = Served(body)
    file_server.files["/m/changed.bin"] = Served(flipped(body, 4999))
    entries = [
        entry(file_server, "m/multi.bin", body, md5=""),
        entry(file_server, "m/changed.bin", body, md5=""),
    ]
    result = run(local_script(tmp_path, entries), "--data-download-path", str(target))
    assert result.returncode == 1
    assert "m/changed.bin: SHA-256 differs" in result.stderr
    assert files_under(target) == {"m/multi.bin": body}
    assert "Size only:  0 file(s)" in result.stdout
    assert (target / "checksums.sha256").read_text() == (
        f"{sha256_of(body)}  m/multi.bin\n{sha256_of(body)}  m/changed.bin\n"
    )
    assert not (target / "checksums.md5").exists()  # no file has an MD5


def test_a_file_without_checksum_is_checked_by_size_only_and_counted(tmp_path, target, file_server):
    body, short = os.urandom(1000), os.urandom(10)
    file_server.files["/n/plain.bin"] = Served(body)
    file_server.files["/n/short.bin"] = Served(short)
    entries = [
        entry(file_server, "n/plain.bin", body, md5="", sha256=""),
        ScriptEntry("n/short.bin", file_server.url("/n/short.bin"), 11),  # one byte missing
    ]
    result = run(local_script(tmp_path, entries), "--data-download-path", str(target))
    assert result.returncode == 1
    assert "n/short.bin: size 10 instead of 11" in result.stderr
    assert files_under(target) == {"n/plain.bin": body}
    assert "Size only:  1 file(s) checked by size only" in result.stdout
    assert not any((target / name).exists() for name in LISTS)  # nothing to list


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


# --- files already there --------------------------------------------------------------------


def test_an_existing_complete_but_wrong_file_is_checked_and_downloaded_again(
    tmp_path, target, file_server
):
    """A file left complete in size by an earlier run was trusted without a look."""
    good, wrong = os.urandom(4000), os.urandom(4000)
    kept = os.urandom(100)
    file_server.files["/p/reads.bin"] = Served(good)
    file_server.files["/p/kept.bin"] = Served(kept)
    (target / "p").mkdir()
    (target / "p" / "reads.bin").write_bytes(wrong)
    (target / "p" / "kept.bin").write_bytes(kept)
    entries = [entry(file_server, "p/reads.bin", good), entry(file_server, "p/kept.bin", kept)]
    result = run(local_script(tmp_path, entries), "--data-download-path", str(target))
    assert result.returncode == 0, result.stderr
    assert (
        f"p/reads.bin: SHA-256 differs: expected {sha256_of(good)}, got {sha256_of(wrong)}: "
        "removed, downloading it again" in result.stderr
    )
    assert files_under(target) == {"p/reads.bin": good, "p/kept.bin": kept}
    assert [r[0] for r in file_server.requests] == ["/p/reads.bin"]  # the right one is kept
    assert "Downloaded: 1 file(s)" in result.stdout
    assert "Up to date: 1 file(s)" in result.stdout


def test_a_wrong_file_in_place_is_removed_even_when_it_cannot_be_fetched_again(
    tmp_path, target, file_server
):
    body = os.urandom(500)
    file_server.files["/g/gone.bin"] = Served(body, status=404)
    (target / "g").mkdir()
    (target / "g" / "gone.bin").write_bytes(flipped(body))
    script = local_script(tmp_path, [entry(file_server, "g/gone.bin", body)])
    result = run(script, "--data-download-path", str(target))
    assert result.returncode == 1
    assert "g/gone.bin: HTTP 404" in result.stderr
    assert files_under(target) == {}  # never left for --skip-existing to trust later


def test_an_existing_file_without_checksum_is_downloaded_again(tmp_path, target, file_server):
    body = os.urandom(300)
    file_server.files["/q/plain.bin"] = Served(body)
    (target / "q").mkdir()
    (target / "q" / "plain.bin").write_bytes(flipped(body))
    entries = [entry(file_server, "q/plain.bin", body, md5="", sha256="")]
    result = run(local_script(tmp_path, entries), "--data-download-path", str(target))
    assert result.returncode == 0, result.stderr
    assert files_under(target) == {"q/plain.bin": body}
    assert "Size only:  1 file(s)" in result.stdout


def test_a_partial_file_without_checksum_is_not_resumed(tmp_path, target, file_server):
    """Its first part could not be checked: the file is fetched whole again."""
    body = os.urandom(3000)
    file_server.files["/r/plain.bin"] = Served(body)
    (target / "r" / ".dsm-partial").mkdir(parents=True)
    (target / "r" / ".dsm-partial" / "plain.bin").write_bytes(flipped(body)[:1000])
    entries = [entry(file_server, "r/plain.bin", body, md5="", sha256="")]
    result = run(local_script(tmp_path, entries), "--data-download-path", str(target))
    assert result.returncode == 0, result.stderr
    assert file_server.requests == [("/r/plain.bin", "", file_server.requests[0][2])]
    assert files_under(target) == {"r/plain.bin": body}


@pytest.mark.parametrize("flag", ["--skip-existing", "--check-size-only"])
def test_skip_options_leave_a_wrong_file_unchecked_and_say_so(tmp_path, target, file_server, flag):
    body = os.urandom(800)
    file_server.files["/s/x.bin"] = Served(body)
    file_server.files["/s/y.bin"] = Served(body)
    (target / "s").mkdir()
    (target / "s" / "x.bin").write_bytes(flipped(body))
    entries = [entry(file_server, "s/x.bin", body), entry(file_server, "s/y.bin", body)]
    script = local_script(tmp_path, entries)
    summary = run(script, "--data-download-path", str(target), flag, "--print-summary")
    assert "Files to download: 1 " in summary.stdout
    assert "Files skipped:     1 (800B), unchecked" in summary.stdout
    result = run(script, "--data-download-path", str(target), flag)
    assert result.returncode == 0, result.stderr
    assert (target / "s" / "x.bin").read_bytes() == flipped(body)  # as asked: not checked
    assert "Skipped:    1 file(s), 800B, unchecked" in result.stdout
    assert "Downloaded: 1 file(s)" in result.stdout
    # Still listed: `sha256sum -c` later shows what the skip let through.
    check = subprocess.run(["sha256sum", "-c", "checksums.sha256"], cwd=target, capture_output=True)
    assert check.returncode == 1
    assert b"s/x.bin: FAILED" in check.stdout


# --- --verify-only --------------------------------------------------------------------------


def verify_set(tmp_path: Path, target: Path, server: FileServer) -> tuple[Path, dict[str, bytes]]:
    """Four files (SHA-256 and MD5, MD5 only, neither), downloaded into target."""
    bodies = {f"v/{n}.bin": os.urandom(1000 + n) for n in range(4)}
    for path, body in bodies.items():
        server.files["/" + path] = Served(body)
    checksums = [{}, {"sha256": ""}, {"sha256": ""}, {"md5": "", "sha256": ""}]
    entries = [
        entry(server, path, body, **only)
        for (path, body), only in zip(bodies.items(), checksums, strict=True)
    ]
    script = local_script(tmp_path, entries)
    assert run(script, "--data-download-path", str(target)).returncode == 0
    return script, bodies


def test_verify_only_passes_on_a_good_download_and_downloads_nothing(tmp_path, target, file_server):
    script, _ = verify_set(tmp_path, target, file_server)
    (target / "v" / ".dsm-partial").mkdir()
    (target / "v" / ".dsm-partial" / "left.bin").write_bytes(b"staging")  # the script's own
    requests = len(file_server.requests)
    result = run(script, "--data-download-path", str(target), "--verify-only")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Checked:    4 file(s), 4.0KiB, as in the share (1 by size only" in result.stdout
    for line in ("Missing:    0", "Differ:     0", "Extra:      0"):
        assert line in result.stdout
    assert len(file_server.requests) == requests
    assert sorted(p.name for p in target.iterdir()) == ["checksums.md5", "checksums.sha256", "v"]


def test_verify_only_reports_missing_differing_and_extra_files(tmp_path, target, file_server):
    script, bodies = verify_set(tmp_path, target, file_server)
    (target / "v" / "0.bin").write_bytes(flipped(bodies["v/0.bin"], 7))  # SHA-256
    (target / "v" / "1.bin").write_bytes(flipped(bodies["v/1.bin"], 8))  # MD5
    (target / "v" / "2.bin").unlink()
    (target / "v" / "3.bin").write_bytes(b"short")  # no checksum: its size differs
    (target / "v" / "notes.txt").write_text("mine")
    (target / "v" / "empty").mkdir()  # an empty folder is no file
    script.rename(target / "data-download.sh")  # the script itself is no extra file
    script = target / "data-download.sh"
    before = files_under(target)
    result = run(script, "--data-download-path", str(target), "--verify-only")
    assert result.returncode == 1
    good0, bad0 = bodies["v/0.bin"], flipped(bodies["v/0.bin"], 7)
    good1, bad1 = bodies["v/1.bin"], flipped(bodies["v/1.bin"], 8)
    assert result.stdout.splitlines()[:5] == [
        f"  v/0.bin: SHA-256 differs: expected {sha256_of(good0)}, got {sha256_of(bad0)}",
        f"  v/1.bin: MD5 differs: expected {md5_of(good1)}, got {md5_of(bad1)}",
        "  v/2.bin: missing",
        f"  v/3.bin: size 5 instead of {len(bodies['v/3.bin'])}",
        "  v/notes.txt: extra: not in this share",
    ]
    assert "Checked:    0 file(s)" in result.stdout
    assert "Missing:    1 file(s)" in result.stdout
    assert "Differ:     3 file(s)" in result.stdout
    assert "Extra:      1 file(s)" in result.stdout
    assert "run without --verify-only to download 4 file(s)" in result.stdout
    assert files_under(target) == before  # nothing changed

    summary = run(script, "--data-download-path", str(target), "--verify-only", "--print-summary")
    assert summary.returncode == 1
    assert "v/0.bin" not in summary.stdout  # the counts only
    assert "Differ:     3 file(s)" in summary.stdout

    assert run(script, "--data-download-path", str(target)).returncode == 0
    again = run(script, "--data-download-path", str(target), "--verify-only")
    assert "Extra:      1 file(s)" in again.stdout  # still there: the script removes nothing
    assert "Checked:    4 file(s)" in again.stdout


@pytest.mark.parametrize("other", ["--dryrun", "--skip-existing", "--check-size-only"])
def test_verify_only_refuses_options_that_make_no_sense_with_it(pull, target, other):
    _, script, _ = pull(**ONE_LIBRARY)
    result = run(script, "--data-download-path", str(target), "--verify-only", other)
    assert result.returncode == 2
    assert "--verify-only" in result.stderr


# --- the checksum lists ---------------------------------------------------------------------

AWKWARD = ["odd/sp ace.txt", "odd/back\\slash.txt", "odd/qu\"o'te.txt", "top.txt", "odd/-dash"]


def test_the_checksum_lists_in_the_folder_pass_md5sum_and_sha256sum(tmp_path, target, file_server):
    bodies = {path: os.urandom(100 + n) for n, path in enumerate(AWKWARD)}
    entries = []
    for n, (path, body) in enumerate(bodies.items()):
        file_server.files[f"/{n}"] = Served(body)
        sha256 = "" if path == "odd/-dash" else sha256_of(body)
        entries.append(ScriptEntry(path, file_server.url(f"/{n}"), len(body), md5_of(body), sha256))
    script = local_script(tmp_path, entries)
    assert run(script, "--data-download-path", str(target), "--dryrun").returncode == 0
    assert list(target.iterdir()) == []  # a dry run writes no list either
    result = run(script, "--data-download-path", str(target))
    assert result.returncode == 0, result.stderr
    lists = render_checksum_files(entries)
    for name, tool in (("checksums.md5", "md5sum"), ("checksums.sha256", "sha256sum")):
        assert (target / name).read_text() == lists[name]  # as the service uploads them
        check = subprocess.run([tool, "-c", name], cwd=target, capture_output=True, text=True)
        assert check.returncode == 0, check.stdout + check.stderr
    assert "odd/-dash" not in lists["checksums.sha256"]
    assert oct((target / "checksums.md5").stat().st_mode & 0o777) == "0o644"
    (target / "odd" / "sp ace.txt").write_bytes(b"changed")
    check = subprocess.run(["md5sum", "-c", "checksums.md5"], cwd=target, capture_output=True)
    assert check.returncode == 1
    assert b"odd/sp ace.txt: FAILED" in check.stdout


def test_render_checksum_files_writes_what_md5sum_and_sha256sum_write(tmp_path):
    bodies = {path: f"content of {path}".encode() for path in AWKWARD}
    for path, body in bodies.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_bytes(body)
    entries = [
        ScriptEntry(path, "https://example.org/x", len(body), md5_of(body), sha256_of(body))
        for path, body in bodies.items()
    ]
    lists = render_checksum_files(entries)
    for name, tool in (("checksums.md5", "md5sum"), ("checksums.sha256", "sha256sum")):
        written = subprocess.run(
            [tool, "--", *bodies], cwd=tmp_path, capture_output=True, text=True, check=True
        )
        assert lists[name] == written.stdout
    assert lists["checksums.md5"].splitlines()[1] == (
        f"\\{md5_of(bodies[AWKWARD[1]])}  odd/back\\\\slash.txt"
    )


def test_render_checksum_files_lists_each_file_under_each_checksum_it_has():
    a, b, c = "a" * 32, "b" * 64, "c" * 64
    entries = [
        ScriptEntry("x/both.bin", "https://e.org/1", 1, md5=a, sha256=b),
        ScriptEntry("x/md5.bin", "https://e.org/2", 2, md5=a),
        ScriptEntry("x/sha.bin", "https://e.org/3", 3, sha256=c),
        ScriptEntry("x/none.bin", "https://e.org/4", 4),
    ]
    assert render_checksum_files(entries) == {
        "checksums.md5": f"{a}  x/both.bin\n{a}  x/md5.bin\n",
        "checksums.sha256": f"{b}  x/both.bin\n{c}  x/sha.bin\n",
    }
    assert render_checksum_files(entries[2:]) == {"checksums.sha256": f"{c}  x/sha.bin\n"}
    assert render_checksum_files(entries[3:]) == {}
    assert render_checksum_files([]) == {}


@pytest.mark.parametrize("path", ["new\nline.txt", "carriage\rreturn", "../up", "/abs"])
def test_render_checksum_files_refuses_paths_that_would_break_a_line(path):
    with pytest.raises(ValueError, match=r"control|segment|absolute"):
        render_checksum_files([ScriptEntry(path, "https://e.org/x", 1, md5="a" * 32)])


@pytest.mark.parametrize(
    "checksums",
    [
        {"md5": "A" * 32},  # upper case
        {"md5": "a" * 31},
        {"md5": "0" * 32 + "-3"},  # a multipart ETag is no MD5
        {"sha256": "a" * 63},
        {"sha256": "g" * 64},
        {"sha256": "a" * 64 + "\n"},
        {"md5": "a" * 32 + "\tx"},
    ],
)
def test_checksums_of_the_wrong_shape_are_refused(checksums):
    bad = ScriptEntry("x/y.bin", "https://e.org/x", 1, **checksums)
    with pytest.raises(ValueError, match="lower-case hex"):
        render_download_script("7f0c3a52-8d8e-4b53-9d0a-2f4b8c1d9e10", [bad], datetime.now(UTC))
    with pytest.raises(ValueError, match="lower-case hex"):
        render_checksum_files([bad])


def test_a_data_line_is_size_md5_sha256_path_and_url():
    entries = [
        ScriptEntry("a/b c.txt", "https://e.org/1?s=1", 5, md5="a" * 32, sha256="b" * 64),
        ScriptEntry("a/d.txt", "https://e.org/2", 0),
    ]
    script = render_download_script(
        "7f0c3a52-8d8e-4b53-9d0a-2f4b8c1d9e10", entries, datetime.now(UTC)
    )
    data = script.split(": <<'__DSM_MANIFEST__'\n", 1)[1]
    assert data == (
        f"5\t{'a' * 32}\t{'b' * 64}\ta/b c.txt\thttps://e.org/1?s=1\n"
        "0\t-\t-\ta/d.txt\thttps://e.org/2\n"
        "__DSM_MANIFEST__\n"
    )


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
    check = subprocess.run(["md5sum", "-c", "checksums.md5"], cwd=target, capture_output=True)
    assert check.returncode == 0, check.stdout
    verify = run(script, "--data-download-path", str(target), "--verify-only", cwd=tmp_path)
    assert verify.returncode == 0, verify.stdout
    assert not canary.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["download", "hostile.sh"])


def test_the_generator_refuses_paths_that_leave_the_folder():
    for path in ("../up.txt", "/etc/passwd", "a/./b", "a//b", "tab\there"):
        with pytest.raises(ValueError, match=r"segment|control|absolute"):
            render_download_script(
                "7f0c3a52-8d8e-4b53-9d0a-2f4b8c1d9e10",
                [ScriptEntry(path, "https://example.org/x", 1)],
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


@pytest.mark.parametrize("field", [0, 1, 2, 4], ids=["size", "md5", "sha256", "url"])
def test_a_tampered_field_is_refused_and_runs_nothing(tmp_path, target, file_server, field):
    """The size is used in arithmetic, where bash would run a `$(...)` inside it."""
    canary = tmp_path / "CANARY"
    file_server.files["/t/ok.txt"] = Served(b"ok")
    file_server.files["/t/x.txt"] = Served(b"x")
    entries = [entry(file_server, "t/ok.txt", b"ok"), entry(file_server, "t/x.txt", b"x")]
    script = local_script(tmp_path, entries)
    text = script.read_text()
    line = next(ln for ln in text.splitlines() if "\tt/x.txt\t" in ln)
    fields = line.split("\t")
    fields[field] = f"a[$(touch {canary})]" if field == 0 else f"$(touch {canary})"
    script.write_text(text.replace(line, "\t".join(fields)))
    for args in ((), ("--print-summary",), ("--dryrun",), ("--verify-only",)):
        result = run(script, "--data-download-path", str(target), *args)
        assert not canary.exists()
    result = run(script, "--data-download-path", str(target))
    assert result.returncode == 1
    assert "t/x.txt: refused: a malformed line in the file list" in result.stderr
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


def test_a_symbolic_link_as_staging_folder_cannot_lead_outside(tmp_path, target, file_server):
    outside = tmp_path / "outside"
    outside.mkdir()
    (target / "t").mkdir()
    (target / "t" / ".dsm-partial").symlink_to(outside)
    file_server.files["/t/x.txt"] = Served(b"x")
    script = local_script(tmp_path, [entry(file_server, "t/x.txt", b"x")])
    result = run(script, "--data-download-path", str(target))
    assert result.returncode == 1
    assert "'t/.dsm-partial' leads outside the download folder" in result.stderr
    assert list(outside.iterdir()) == []
    assert file_server.requests == []


def test_a_script_edited_above_its_file_list_still_finds_it(tmp_path, target, file_server):
    """The script skips its own lines by count; an edit that moves the list is no failure."""
    file_server.files["/e/x.txt"] = Served(b"x")
    script = local_script(tmp_path, [entry(file_server, "e/x.txt", b"x")])
    text = script.read_text()
    for edited in (
        text.replace("\nusage() {", "\n# a line\n# and another\nusage() {"),
        text.replace("\numask 022\n", "\n"),
    ):
        script.write_text(edited)
        result = run(script, "--data-download-path", str(target))
        assert result.returncode == 0, result.stderr
        assert files_under(target) == {"e/x.txt": b"x"}
    script.write_text(text.split("\n: <<'__DSM_MANIFEST__'\n")[0] + "\n")
    result = run(script, "--data-download-path", str(target))
    assert result.returncode == 2
    assert "the list of files is missing from this script" in result.stderr


# --- free space -----------------------------------------------------------------------------


def tiny_disk(tmp_path: Path, available_kib: int | None) -> tuple[dict[str, str], Path]:
    """An environment whose PATH finds first a `df` that reports a file system with
    `available_kib` KiB free (None: a df that fails), as `df -Pk` prints it; and the file where
    that df writes the arguments of each call."""
    folder = tmp_path / "tiny-disk-bin"
    folder.mkdir(parents=True)
    calls = tmp_path / "df-calls"
    if available_kib is None:
        answer = 'echo "df: cannot read the file system" >&2\nexit 1\n'
    else:
        answer = (
            'echo "Filesystem     1024-blocks      Used Available Capacity Mounted on"\n'
            f'echo "/dev/tiny 64 {64 - available_kib} {available_kib} 99% /mnt/tiny disk"\n'
        )
    df = folder / "df"
    df.write_text(f'#!/bin/sh\nprintf \'%s\\n\' "$*" >>"{calls}"\n{answer}')
    df.chmod(0o755)
    return {**os.environ, "PATH": f"{folder}:{os.environ['PATH']}"}, calls


def two_files(tmp_path: Path, file_server: FileServer) -> tuple[Path, dict[str, bytes]]:
    """A script of two files of 3000 bytes each (5.9KiB in all)."""
    bodies = {"s/one.bin": os.urandom(3000), "s/two.bin": os.urandom(3000)}
    for path, body in bodies.items():
        file_server.files["/" + path] = Served(body)
    entries = [entry(file_server, path, body) for path, body in bodies.items()]
    return local_script(tmp_path, entries), bodies


def test_a_download_that_does_not_fit_is_refused_naming_both_sizes_and_the_flag(
    tmp_path, target, file_server
):
    script, _ = two_files(tmp_path, file_server)
    env, calls = tiny_disk(tmp_path, available_kib=4)
    result = run(script, "--data-download-path", str(target), env=env)
    assert result.returncode == 4
    assert (
        f"error: not enough space under {target}: the download needs 5.9KiB (2 file(s)) and "
        "only 4.0KiB is available" in result.stderr
    )
    assert "run again with --no-space-check to download anyway" in result.stderr
    assert "Nothing was downloaded." in result.stderr
    assert list(target.iterdir()) == []  # not even a staging folder or a checksum list
    assert file_server.requests == []
    assert calls.read_text() == f"-Pk -- {target}\n"  # asked about the download path


def test_no_space_check_downloads_whatever_df_says(tmp_path, target, file_server):
    script, bodies = two_files(tmp_path, file_server)
    env, calls = tiny_disk(tmp_path, available_kib=4)
    result = run(script, "--data-download-path", str(target), "--no-space-check", env=env)
    assert result.returncode == 0, result.stderr
    assert files_under(target) == bodies
    assert not calls.exists()  # df is not even asked


def test_files_already_in_place_are_not_counted_against_the_free_space(
    tmp_path, target, file_server
):
    script, bodies = two_files(tmp_path, file_server)
    (target / "s").mkdir()
    (target / "s" / "one.bin").write_bytes(bodies["s/one.bin"])
    short, _ = tiny_disk(tmp_path / "short", available_kib=2)
    refused = run(script, "--data-download-path", str(target), env=short)
    assert refused.returncode == 4
    assert "the download needs 3.0KiB (1 file(s)) and only 2.0KiB is available" in refused.stderr
    enough, _ = tiny_disk(tmp_path / "enough", available_kib=3)  # 3072 bytes for 3000
    result = run(script, "--data-download-path", str(target), env=enough)
    assert result.returncode == 0, result.stderr
    assert files_under(target) == bodies
    assert "Up to date: 1 file(s)" in result.stdout


def test_a_df_that_cannot_tell_stops_the_download_and_names_the_flag(tmp_path, target, file_server):
    script, _ = two_files(tmp_path, file_server)
    env, _ = tiny_disk(tmp_path, available_kib=None)
    result = run(script, "--data-download-path", str(target), env=env)
    assert result.returncode == 4
    assert f"cannot read the free space under {target} (df -Pk failed)" in result.stderr
    assert "--no-space-check" in result.stderr
    assert list(target.iterdir()) == []


def test_the_dry_run_says_the_download_would_stop_for_space(tmp_path, target, file_server):
    script, _ = two_files(tmp_path, file_server)
    env, _ = tiny_disk(tmp_path, available_kib=4)
    result = run(script, "--data-download-path", str(target), "--dryrun", env=env)
    assert result.returncode == 0, result.stderr
    assert "Would stop: not enough space under" in result.stdout
    assert list(target.iterdir()) == []


def test_with_room_on_the_real_disk_the_download_goes_ahead(pull, target):
    """The real `df -Pk` of the test's folder, which has room for a few KiB."""
    job, script, _ = pull(**ONE_LIBRARY)
    expected = shared(job)
    available_kib = int(
        subprocess.run(["df", "-Pk", str(target)], capture_output=True, text=True).stdout.split()[
            -3
        ]
    )
    assert available_kib * 1024 > sum(len(body) for body in expected.values())
    result = run(script, "--data-download-path", str(target))
    assert result.returncode == 0, result.stderr
    assert "space" not in result.stderr
    assert files_under(target) == expected
