"""/metrics: refused without its token, and counting what the jobs the test ran did."""

from __future__ import annotations

import pytest
from django.test import Client
from django_q.conf import Conf

from jobs.models import Job
from tests.support.metrics import TOKEN, scrape


@pytest.fixture
def metrics_on(settings):
    settings.METRICS_TOKEN = TOKEN


def test_metrics_are_off_without_a_token_configured(settings):
    settings.METRICS_TOKEN = None
    response = Client().get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 404
    assert b"set METRICS_TOKEN" in response.content


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer not-the-metrics-token", f"Token {TOKEN}", f"Bearer {TOKEN}x", "Bearer"],
)
def test_metrics_without_the_right_bearer_token_are_refused(metrics_on, authorization):
    headers = {"HTTP_AUTHORIZATION": authorization} if authorization else {}
    response = Client().get("/metrics", **headers)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="metrics"'
    assert b"dsm_" not in response.content


PUSH_DRY_RUN = {
    "projectIdList": ["CUP"],
    "dataTypeList": ["Fastq"],
    "shareType": "push",
    "shareDestination": "s3://collaborator-bucket/cup/",
    "dryrun": True,
}


def test_metrics_count_the_jobs_transfers_and_tasks_that_ran(metrics_on, pull, launch):
    job, _, _ = pull(projectIdList=["CUP"], dataTypeList=["Fastq"])
    dry_run = launch(**PUSH_DRY_RUN)
    assert dry_run.status_code == 202

    samples = scrape(Client())

    def jobs(share_type: str, dryrun: str, status: str) -> float:
        labels = (("dryrun", dryrun), ("share_type", share_type), ("status", status))
        return samples[("dsm_jobs", labels)]

    assert jobs("pull", "false", "SUCCEEDED") == 1
    assert jobs("push", "true", "SUCCEEDED") == 1
    assert jobs("push", "false", "SUCCEEDED") == 0  # every combination is there, zeros too
    pulled = Job.objects.get(pk=job["id"])
    assert pulled.objects_done > 0
    assert samples[("dsm_pull_objects_total", ())] == pulled.objects_done
    assert samples[("dsm_pull_bytes_total", ())] == pulled.bytes_done
    assert samples[("dsm_push_objects_total", ())] == 0  # a dry run copies nothing
    assert samples[("dsm_queue_tasks", (("state", "queued"),))] == 0
    # django-q2 recorded both runs (sync mode runs its worker code in this process).
    ran = (("func", "jobs.tasks.run_job"), ("outcome", "success"))
    assert samples[("dsm_recent_tasks", ran)] == 2
    median = samples[("dsm_task_duration_seconds", (*ran[:1], ran[1], ("quantile", "0.5")))]
    longest = samples[("dsm_task_duration_seconds", (*ran[:1], ran[1], ("quantile", "1")))]
    assert 0 < median <= longest
    assert samples[("dsm_worker_clusters_serving", ())] == 0


def test_metrics_count_tasks_waiting_in_the_queue(metrics_on, launch, demo, monkeypatch):
    monkeypatch.setattr(Conf, "SYNC", False)  # queue for real, with no worker to take it
    response = launch(**PUSH_DRY_RUN)
    assert response.status_code == 202
    samples = scrape(Client())
    assert samples[("dsm_queue_tasks", (("state", "queued"),))] == 1
    assert (
        samples[("dsm_jobs", (("dryrun", "true"), ("share_type", "push"), ("status", "PENDING")))]
        == 1
    )
