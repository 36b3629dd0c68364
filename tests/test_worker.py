"""A real django-q2 cluster (`manage.py qcluster`, its own processes) takes a launched dry run
of the demo from the ORM broker and runs it to the end."""

from __future__ import annotations

import time

import pytest
from django_q.conf import Conf
from django_q.models import OrmQ

from jobs.models import Job
from tests.support.cluster import start_cluster, stop

pytestmark = pytest.mark.e2e  # a real worker cluster


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
