"""The production smoke test: the service set up as docs/deploy.md says, on PostgreSQL with
DEBUG off, and used as a TLS proxy and an API client would use it.

An env file made from deploy/dsm.env.example (a fresh database of its own, the suite's S3
server, credentials in an AWS credentials file), `manage.py migrate` and `collectstatic` read it
through DSM_ENV_FILE; gunicorn and one `qcluster` run the systemd units' commands with the file's
variables in their environment (as `EnvironmentFile=` gives them). Then: the admin's login page
with its styles, a dry run launched through the API and finished by the worker, /readyz green;
then both stop on SIGTERM, as `systemctl stop` asks.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import requests
from django.conf import settings

from sharing_project.s3.objects import ensure_bucket
from tests.support.cluster import database_url

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        not settings.DATABASES["default"]["ENGINE"].endswith("postgresql"),
        reason="production runs on PostgreSQL: CI's PostgreSQL run covers it",
    ),
]

ROOT = Path(__file__).resolve().parent.parent
SHARING_BUCKET = "dsm-smoke-sharing"
# What the TLS proxy (deploy/nginx/dsm.conf) adds to every request it passes on.
PROXY_HEADERS = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.7"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_connection(dbname: str) -> psycopg.Connection:
    db = settings.DATABASES["default"]
    return psycopg.connect(
        dbname=dbname,
        host=db["HOST"] or "127.0.0.1",
        port=db["PORT"] or 5432,
        user=db["USER"],
        password=db["PASSWORD"] or None,
        autocommit=True,
    )


@pytest.fixture
def fresh_database() -> Iterator[str]:
    """An empty database on the suite's PostgreSQL server, as a new deployment starts with."""
    name = f"dsm_smoke_{uuid.uuid4().hex[:8]}"
    with server_connection("postgres") as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    # The suite's own database URL (tests/support/cluster.py), with this database's name.
    yield f"{database_url().rsplit('/', 1)[0]}/{name}"
    with server_connection("postgres") as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def env_file_from_example(folder: Path, database_url: str, s3_endpoint: str, port: int) -> Path:
    """/etc/dsm/dsm.env as docs/deploy.md has an operator write it from the example."""
    aws = folder / "aws"
    aws.mkdir()
    (aws / "config").write_text("[default]\nregion = ap-southeast-2\n")
    (aws / "credentials").write_text(
        "[default]\naws_access_key_id = testing\naws_secret_access_key = testing\n"
        "[dsm-presign]\naws_access_key_id = signing\naws_secret_access_key = signing\n"
    )
    replacements = {
        "SECRET_KEY=REPLACE-WITH-50-RANDOM-CHARACTERS": f"SECRET_KEY={secrets.token_urlsafe(50)}",
        "ALLOWED_HOSTS=dsm.example.org": "ALLOWED_HOSTS=127.0.0.1",
        "CSRF_TRUSTED_ORIGINS=https://dsm.example.org": "CSRF_TRUSTED_ORIGINS=https://127.0.0.1",
        "DATABASE_URL=postgres://dsm:REPLACE-WITH-DB-PASSWORD@db.example.org:5432/dsm": (
            f"DATABASE_URL={database_url}"
        ),
        "DSM_DATA_DIR=/var/lib/dsm": f"DSM_DATA_DIR={folder / 'data'}",
        "WEB_BIND=127.0.0.1:8000": f"WEB_BIND=127.0.0.1:{port}",
        "AWS_CONFIG_FILE=/etc/dsm/aws/config": f"AWS_CONFIG_FILE={aws / 'config'}",
        "AWS_SHARED_CREDENTIALS_FILE=/etc/dsm/aws/credentials": (
            f"AWS_SHARED_CREDENTIALS_FILE={aws / 'credentials'}"
        ),
        "SHARING_BUCKET=SHARING-BUCKET": f"SHARING_BUCKET={SHARING_BUCKET}",
    }
    text = (ROOT / "deploy" / "dsm.env.example").read_text()
    for example, value in replacements.items():
        assert example in text, f"deploy/dsm.env.example no longer has {example!r}"
        text = text.replace(example, value)
    # Not in the example: production talks to AWS itself; here, the suite's S3 server.
    text += f"AWS_ENDPOINT_URL={s3_endpoint}\n"
    env_file = folder / "dsm.env"
    env_file.write_text(text)
    return env_file


def read_env_file(path: Path) -> dict[str, str]:
    """NAME=value lines, as systemd's EnvironmentFile= reads the example's plain form."""
    lines = path.read_text().splitlines()
    pairs = (line.split("=", 1) for line in lines if line.strip() and not line.startswith("#"))
    return {name.strip(): value.strip() for name, value in pairs}


def host_environment() -> dict[str, str]:
    """A service's environment before its env file: no DSM_, DJANGO_, AWS_ or settings of
    the suite's own."""
    return {key: os.environ[key] for key in ("PATH", "HOME", "LANG") if key in os.environ}


def manage(env_file: Path, *arguments: str) -> subprocess.CompletedProcess:
    """docs/deploy.md's `dsm-manage`: manage.py reading the env file through DSM_ENV_FILE."""
    result = subprocess.run(
        [sys.executable, "manage.py", *arguments],
        cwd=ROOT,
        env=host_environment() | {"DSM_ENV_FILE": str(env_file)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, f"manage.py {' '.join(arguments)}:\n{result.stderr}"
    return result


def start_unit(env_file: Path, command: list[str], log: Path) -> subprocess.Popen:
    """A systemd unit's ExecStart= with EnvironmentFile= and DSM_ENV_FILE=/dev/null."""
    env = host_environment() | read_env_file(env_file) | {"DSM_ENV_FILE": os.devnull}
    return subprocess.Popen(
        command,
        cwd=ROOT,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def stop_unit(process: subprocess.Popen, log: Path) -> int:
    """`systemctl stop`: SIGTERM, and the unit's TimeoutStopSec before SIGKILL."""
    process.terminate()
    try:
        return process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{process.args} did not stop on SIGTERM:\n{log.read_text()[-3000:]}")
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)


def wait_until_served(base: str, web: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert web.poll() is None, f"gunicorn exited:\n{log.read_text()[-3000:]}"
        with contextlib.suppress(requests.ConnectionError):
            if requests.get(f"{base}/healthz", timeout=5).status_code == 200:
                return
        time.sleep(0.2)
    pytest.fail(f"gunicorn did not answer /healthz within 60 s:\n{log.read_text()[-3000:]}")


def wait_for_job(base: str, headers: dict[str, str], job_id: str) -> dict:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        job = requests.get(f"{base}/api/v1/jobs/{job_id}", headers=headers, timeout=10).json()
        if job["status"] in ("SUCCEEDED", "FAILED", "ABORTED"):
            return job
        time.sleep(0.3)
    pytest.fail(f"the worker did not finish job {job_id} within 90 s: {job}")


def test_a_deployment_made_as_deploy_md_says_serves_the_console_api_and_worker(
    s3, s3_endpoint, fresh_database, tmp_path
):
    ensure_bucket(SHARING_BUCKET)
    port = free_port()
    env_file = env_file_from_example(tmp_path, fresh_database, s3_endpoint, port)

    # docs/deploy.md, sections 3 and 4.
    manage(env_file, "check", "--deploy", "--fail-level", "WARNING")
    manage(env_file, "migrate", "--noinput")
    manage(env_file, "collectstatic", "--noinput")
    manage(env_file, "seed_demo")  # the catalogue and its objects (import_catalogue in real life)
    manage(
        env_file,
        "shell",
        "-c",
        "from django.contrib.auth.models import User, Group; "
        "u = User.objects.create_user('olivia', is_staff=True); "
        "u.groups.add(Group.objects.get(name='operators'))",
    )
    token = manage(env_file, "drf_create_token", "olivia").stdout.split()[2]

    web_log, worker_log = tmp_path / "web.log", tmp_path / "worker.log"
    web = start_unit(
        env_file,
        [sys.executable, "-m", "gunicorn", "-c", "python:sharing_project.gunicorn_conf"],
        web_log,
    )
    worker = start_unit(env_file, [sys.executable, "manage.py", "qcluster"], worker_log)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_served(base, web, web_log)

        # Plain http that did not come through the proxy goes to https.
        direct = requests.get(f"{base}/admin/login/", allow_redirects=False, timeout=10)
        assert direct.status_code == 301
        assert direct.headers["Location"].startswith("https://")

        login = requests.get(f"{base}/admin/login/", headers=PROXY_HEADERS, timeout=10)
        assert login.status_code == 200
        assert "Strict-Transport-Security" in login.headers
        assert "Content-Security-Policy" in login.headers
        assert '<link rel="stylesheet" href="/static/admin/css/base.css">' in login.text
        styles = requests.get(
            f"{base}/static/admin/css/base.css", headers=PROXY_HEADERS, timeout=10
        )
        assert styles.status_code == 200
        assert styles.headers["Content-Type"].startswith("text/css")
        assert "body" in styles.text

        api = PROXY_HEADERS | {"Authorization": f"Token {token}"}
        launched = requests.post(
            f"{base}/api/v1/jobs",
            headers=api,
            json={
                "libraryIdList": ["L2400001"],
                "dataTypeList": ["Fastq"],
                "shareType": "pull",
                "dryrun": True,
            },
            timeout=10,
        )
        assert launched.status_code == 202, launched.text
        job = wait_for_job(base, api, launched.json()["id"])
        assert job["status"] == "SUCCEEDED", (job, worker_log.read_text()[-3000:])
        assert job["progress"]["objectsTotal"] > 0
        assert job["launchedBy"] == "olivia"

        ready = requests.get(f"{base}/readyz", timeout=10)
        assert ready.status_code == 200, ready.text
        assert {name: check["ok"] for name, check in ready.json()["checks"].items()} == {
            "database": True,
            "s3": True,
            "queue": True,
            "workers": True,
        }
    finally:
        web_exit = stop_unit(web, web_log)
        worker_exit = stop_unit(worker, worker_log)
    assert web_exit == 0, web_log.read_text()[-3000:]
    assert worker_exit == 0, worker_log.read_text()[-3000:]
    assert "Traceback" not in web_log.read_text()
    # The example file's LOG_FORMAT=json: a JSON object a line, the launch among them, and the
    # API token nowhere.
    web_lines = [json.loads(line) for line in web_log.read_text().splitlines()]
    assert {"method": "POST", "path": "/api/v1/jobs", "status": 202}.items() <= next(
        line.items() for line in web_lines if line.get("path") == "/api/v1/jobs"
    )
    job_events = [json.loads(line) for line in worker_log.read_text().splitlines()]
    assert any(line.get("job_id") == job["id"] for line in job_events)
    assert token not in web_log.read_text() + worker_log.read_text()
