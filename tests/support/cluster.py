"""A real django-q2 cluster (`manage.py qcluster`, its own processes) on the test database and
the test S3 server."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]


def database_url() -> str:
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    user = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{user}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def start_cluster(s3_endpoint: str, log: Path, **settings_env: str) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DSM_", "DJANGO_"))}
    env |= {
        "DJANGO_SETTINGS_MODULE": "sharing_project.settings",
        "SECRET_KEY": settings.SECRET_KEY,  # django-q2 signs its task packages with it
        "DATABASE_URL": database_url(),
        "AWS_ENDPOINT_URL": s3_endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": settings.AWS_REGION,
        "DSM_DATA_DIR": str(log.parent),
        "Q_CLUSTER_WORKERS": "1",
    }
    env |= settings_env
    return subprocess.Popen(
        [sys.executable, "manage.py", "qcluster"],
        cwd=ROOT,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def stop(cluster: subprocess.Popen, grace: float = 30) -> None:
    """SIGTERM, then SIGKILL to its whole session after `grace` seconds (raising
    TimeoutExpired then) or as soon as it has stopped."""
    cluster.terminate()  # the cluster's main process stops its workers in order
    try:
        cluster.wait(timeout=grace)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(cluster.pid, signal.SIGKILL)
