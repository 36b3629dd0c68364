"""`make run`'s launcher, end to end: from an empty data folder to a running service and back.

It runs the real script, in a fresh copy of the checkout and its own process group, with the
embedded defaults (SQLite in the checkout's data folder, moto's S3 server on loopback), logs in
with the printed credentials, reads the demo catalogue through the API, shares from the command
line as a newcomer would in another shell, then presses Ctrl-C and checks everything it started
stopped.
"""

from __future__ import annotations

import json
import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import boto3
import pytest
import requests

pytestmark = pytest.mark.e2e  # make run's processes, and manage.py's

ROOT = Path(__file__).resolve().parent.parent
# Variables that configure the service: a newcomer's shell has none of them.
CONFIGURATION = ("DSM_", "AWS_", "DATABASE_URL", "SECRET_KEY", "DJANGO_")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def port_open(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def shell_environment() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(CONFIGURATION)}


def fresh_checkout(destination: Path) -> Path:
    """The checkout's files without its data, virtualenvs and git metadata: the run writes the
    copy's data/ folder (and data/embedded.env), never the developer's."""
    left_out_at_top = {".git", ".venv", ".venv-bench", ".venv-drs", "data", "test-artifacts"}

    def left_out(folder: str, names: list[str]) -> set[str]:
        here = left_out_at_top if Path(folder) == ROOT else set()
        return {n for n in names if n in here or n in ("__pycache__", ".pytest_cache")}

    shutil.copytree(ROOT, destination, ignore=left_out)
    return destination.resolve()


def manage(checkout: Path, *arguments: str) -> subprocess.CompletedProcess:
    """`.venv/bin/python manage.py ...` typed in another shell of the checkout, nothing set."""
    return subprocess.run(
        [sys.executable, "manage.py", *arguments],
        cwd=checkout,
        env=shell_environment(),
        capture_output=True,
        text=True,
        timeout=120,
    )


class Launcher:
    def __init__(self, checkout: Path):
        self.checkout = checkout
        self.data_dir = checkout / "data"
        self.web_port, self.s3_port = free_port(), free_port()
        env = shell_environment() | {
            "DSM_PORT": str(self.web_port),
            "DSM_S3_PORT": str(self.s3_port),
        }
        self.process = subprocess.Popen(
            [sys.executable, "scripts/run_embedded.py"],
            cwd=checkout,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.output: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.put(line)

    def wait_for(self, text: str, timeout: float = 120) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=1)
            except queue.Empty:
                assert self.process.poll() is None, "".join(self.output)
                continue
            self.output.append(line)
            if text in line:
                return line
        raise AssertionError(f"{text!r} not printed:\n{''.join(self.output)}")


@pytest.fixture
def launcher(tmp_path):
    launched = Launcher(fresh_checkout(tmp_path / "checkout"))
    yield launched
    if launched.process.poll() is None:
        os.killpg(launched.process.pid, signal.SIGKILL)


def processes_of(data_dir: Path) -> list[int]:
    """Processes whose environment names this run's data folder: everything it started."""
    marker = f"DSM_DATA_DIR={data_dir}".encode() + b"\0"
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if marker in environ:
            found.append(int(entry.name))
    return found


def log_in(base: str, username: str, password: str) -> requests.Session:
    session = requests.Session()
    page = session.get(f"{base}/admin/login/", timeout=10)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)[1]
    response = session.post(
        f"{base}/admin/login/?next=/admin/",
        data={"username": username, "password": password, "csrfmiddlewaretoken": token},
        headers={"Referer": f"{base}/admin/login/"},
        timeout=10,
    )
    assert response.url.endswith("/admin/"), "login failed"
    return session


def test_make_run_serves_the_demo_and_stops_everything_on_ctrl_c(launcher):
    launcher.wait_for("Data Sharing Manager is running.")
    urls = {
        name: launcher.wait_for(name).split(":", 1)[1].strip()
        for name in ("Admin:", "API:", "API docs:")
    }
    base = f"http://127.0.0.1:{launcher.web_port}"
    assert urls == {
        "Admin:": f"{base}/admin/",
        "API:": f"{base}/api/v1/",
        "API docs:": f"{base}/api/docs",
    }
    username, password = launcher.wait_for("Log in as:").split(":", 1)[1].strip().split(" / ")
    assert f".venv/bin/python manage.py share --user {username} " in launcher.wait_for("CLI:")

    assert requests.get(f"{base}/api/v1/libraries", timeout=10).status_code in (401, 403)
    served_by_gunicorn_with_static_files(base)
    session = log_in(base, username, password)
    libraries = session.get(f"{base}/api/v1/libraries", timeout=10).json()
    assert libraries["count"] >= 20
    assert session.get(f"{base}/api/docs", timeout=10).status_code == 200

    s3 = boto3.client(
        "s3",
        endpoint_url=f"http://127.0.0.1:{launcher.s3_port}",
        aws_access_key_id="any",
        aws_secret_access_key="any",
        region_name="ap-southeast-2",
    )
    buckets = {b["Name"] for b in s3.list_buckets()["Buckets"]}
    assert {"dsm-sharing", "dsm-demo-data"} <= buckets
    assert s3.list_objects_v2(Bucket="dsm-demo-data")["KeyCount"] > 100

    command_line_reaches_the_same_run(launcher, session, username)

    started = processes_of(launcher.data_dir)
    assert len(started) >= 4  # S3 server, worker cluster (several processes), web server
    os.killpg(launcher.process.pid, signal.SIGINT)
    assert launcher.process.wait(timeout=60) == 0
    deadline = time.monotonic() + 10
    while processes_of(launcher.data_dir) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert processes_of(launcher.data_dir) == []
    assert not port_open(launcher.web_port)
    assert not port_open(launcher.s3_port)


def served_by_gunicorn_with_static_files(base: str) -> None:
    """A production server answers (not runserver), and still serves the admin's styles."""
    login = requests.get(f"{base}/admin/login/", timeout=10)
    assert login.headers["Server"] == "gunicorn", login.headers
    style = re.search(r'href="(/static/admin/css/[^"]+\.css)"', login.text)[1]
    css = requests.get(f"{base}{style}", timeout=10)
    assert css.status_code == 200
    assert css.headers["Content-Type"].startswith("text/css")


def command_line_reaches_the_same_run(launcher, session: requests.Session, username: str) -> None:
    """`manage.py share` in another shell after `make run` said SECRET_KEY is not set."""
    env_file = launcher.data_dir / "embedded.env"
    assert oct(env_file.stat().st_mode & 0o777) == "0o600"

    probe = "from django.conf import settings; print(settings.AWS_ENDPOINT_URL)"
    shown = manage(launcher.checkout, "shell", "-c", probe)
    assert shown.stdout.splitlines()[-1] == f"http://127.0.0.1:{launcher.s3_port}", shown.stderr

    shared = manage(
        launcher.checkout,
        *("share", "--user", username, "--project-id", "CUP", "--data-type", "Fastq"),
        *("--share-type", "pull", "--dryrun", "--wait", "--timeout", "60", "--json"),
    )
    assert shared.returncode == 0, shared.stderr
    job = json.loads(shared.stdout)
    # Run by make run's worker: the same database, the key it signs tasks with, the S3 server.
    assert job["status"] == "SUCCEEDED", job
    assert job["progress"]["objectsTotal"] > 0
    base = f"http://127.0.0.1:{launcher.web_port}"
    seen = session.get(f"{base}/api/v1/jobs/{job['id']}", timeout=10).json()
    assert (seen["status"], seen["launchedBy"]) == ("SUCCEEDED", username)

    status = manage(launcher.checkout, "job_status", job["id"])
    assert status.returncode == 0, status.stderr
    assert re.search(r"^Status:\s+SUCCEEDED$", status.stdout, re.MULTILINE), status.stdout
