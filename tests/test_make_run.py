"""`make run`'s launcher, end to end: from an empty data folder to a running service and back.

It runs the real script in its own process group with the embedded defaults (SQLite in the
data folder, moto's S3 server on loopback), logs in with the printed credentials, reads the
demo catalogue through the API, then presses Ctrl-C and checks everything it started stopped.
"""

from __future__ import annotations

import os
import queue
import re
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

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def port_open(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


class Launcher:
    def __init__(self, data_dir: Path):
        self.data_dir = data_dir
        self.web_port, self.s3_port = free_port(), free_port()
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("DSM_", "AWS_", "DATABASE_URL", "SECRET_KEY", "DJANGO_"))
        }
        env |= {
            "DSM_DATA_DIR": str(data_dir),
            "DSM_PORT": str(self.web_port),
            "DSM_S3_PORT": str(self.s3_port),
        }
        self.process = subprocess.Popen(
            [sys.executable, "scripts/run_embedded.py"],
            cwd=ROOT,
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
    launched = Launcher(tmp_path / "data")
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

    assert requests.get(f"{base}/api/v1/libraries", timeout=10).status_code in (401, 403)
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

    started = processes_of(launcher.data_dir)
    assert len(started) >= 4  # launcher, S3 server, worker cluster, web server
    os.killpg(launcher.process.pid, signal.SIGINT)
    assert launcher.process.wait(timeout=60) == 0
    deadline = time.monotonic() + 10
    while processes_of(launcher.data_dir) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert processes_of(launcher.data_dir) == []
    assert not port_open(launcher.web_port)
    assert not port_open(launcher.s3_port)
