"""A real django-q2 cluster (`manage.py qcluster`, its own processes) takes a launched dry run
of the demo from the ORM broker and runs it to the end."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django_q.conf import Conf
from django_q.models import OrmQ

from jobs.models import Job

ROOT = Path(__file__).resolve().parent.parent


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


def stop(cluster: subprocess.Popen) -> None:
    cluster.terminate()  # the cluster's main process stops its workers in order
    try:
        cluster.wait(timeout=30)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(cluster.pid, signal.SIGKILL)


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_runs_a_dry_run_of_the_demo(
    demo, operator_client, s3_endpoint, monkeypatch, tmp_path
):
    monkeypatch.setattr(Conf, "SYNC", False)  # queue for real, as production does
    response = operator_client.post(
        "/api/v1/jobs",
        {
            "projectIdList": ["CUP"],
            "dataTypeList": ["Fastq", "SecondaryAnalysis"],
            "shareType": "push",
            "shareDestination": "s3://collaborator-bucket/cup/",
            "dryrun": True,
        },
        format="json",
    )
    assert response.status_code == 202
    assert OrmQ.objects.count() == 1  # queued on commit, waiting for a worker
    job_url = response.json()["url"]

    log = tmp_path / "qcluster.log"
    cluster = start_cluster(s3_endpoint, log)
    try:
        deadline = time.monotonic() + 90
        status = "PENDING"
        while status in ("PENDING", "RUNNING") and time.monotonic() < deadline:
            time.sleep(0.5)
            status = operator_client.get(job_url).json()["status"]
    finally:
        stop(cluster)
    assert status == "SUCCEEDED", log.read_text()

    job = Job.objects.get(pk=response.json()["id"])
    assert job.task_id
    assert job.objects_total == job.job_objects.count() > 0
    assert {o.destination_uri.split("/cup/")[1] for o in job.job_objects.all()} == {
        o.relative_path for o in job.job_objects.all()
    }
    assert not OrmQ.objects.exists()  # acknowledged
