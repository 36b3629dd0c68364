"""/healthz and /readyz, as a load balancer calls them: no credentials, JSON, 200 or 503.

The readiness checks run in django-health-check's executor threads, on connections of their
own, so these tests commit (transaction=True) as a real deployment does.
"""

from __future__ import annotations

import time

import pytest
from django.conf import settings
from django.db import connections
from django.test import Client

from sharing_project.s3.objects import ensure_bucket
from tests.support.cluster import start_cluster, stop
from tests.support.metrics import TOKEN, scrape


def readiness(client: Client) -> tuple[int, dict]:
    response = client.get("/readyz")
    assert response["Content-Type"] == "application/json"
    return response.status_code, response.json()


def test_healthz_answers_without_touching_the_database():
    """No database fixture: pytest-django fails any query this request would make."""
    response = Client().get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_probes_over_plain_http_are_not_redirected_to_https(settings):
    """Load balancers probe gunicorn over http; every other page still goes to https."""
    settings.SECURE_SSL_REDIRECT = True
    client = Client()
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code in (200, 503)
    assert client.get("/metrics").status_code == 301
    assert client.get("/admin/login/").status_code == 301


@pytest.mark.django_db(transaction=True)
def test_readyz_without_a_worker_cluster_is_unavailable_and_says_why(s3):
    ensure_bucket(settings.SHARING_BUCKET)
    status, body = readiness(Client())
    assert status == 503
    assert body["status"] == "unavailable"
    checks = body["checks"]
    assert set(checks) == {"database", "s3", "queue", "workers"}
    assert checks["database"] == {"ok": True, "state": "OK"}
    assert checks["s3"] == {
        "ok": True,
        "state": f"sharing bucket {settings.SHARING_BUCKET} reachable",
    }
    assert checks["queue"] == {"ok": True, "state": "0 task(s) queued, 0 taken by workers"}
    assert checks["workers"]["ok"] is False
    assert "no worker cluster is taking tasks" in checks["workers"]["state"]


@pytest.mark.django_db(transaction=True)
def test_readyz_reports_a_missing_sharing_bucket(s3):
    status, body = readiness(Client())
    assert status == 503
    assert body["checks"]["s3"] == {
        "ok": False,
        "state": f"Unavailable: sharing bucket {settings.SHARING_BUCKET}: no such bucket",
    }


@pytest.mark.django_db(transaction=True)
def test_readyz_reports_an_unreachable_s3_without_its_address(s3, settings):
    ensure_bucket(settings.SHARING_BUCKET)
    settings.AWS_ENDPOINT_URL = "http://127.0.0.1:9"  # discard: nothing listens
    status, body = readiness(Client())
    assert status == 503
    assert body["checks"]["s3"]["ok"] is False
    assert "S3 cannot be reached" in body["checks"]["s3"]["state"]
    assert "127.0.0.1" not in body["checks"]["s3"]["state"]


@pytest.mark.django_db(transaction=True)
def test_readyz_reports_an_unreachable_database(s3, monkeypatch):
    ensure_bucket(settings.SHARING_BUCKET)
    # The checks' threads open new connections from these settings; this request's own
    # connection (already open) is left as it is.
    database = connections.settings["default"]
    if database["ENGINE"].endswith("sqlite3"):
        monkeypatch.setitem(database, "NAME", "/nonexistent/dsm/db.sqlite3")
    else:
        monkeypatch.setitem(database, "PORT", "9")
    status, body = readiness(Client())
    assert status == 503
    for component in ("database", "queue", "workers"):
        assert body["checks"][component]["ok"] is False, body
        assert body["checks"][component]["state"].startswith("Unavailable")
    assert body["checks"]["s3"]["ok"] is True


@pytest.mark.e2e  # a real worker cluster
@pytest.mark.django_db(transaction=True)
def test_readyz_is_green_while_a_real_worker_cluster_runs_and_red_after(
    s3, s3_endpoint, tmp_path, settings
):
    settings.METRICS_TOKEN = TOKEN
    ensure_bucket(settings.SHARING_BUCKET)
    client = Client()
    assert readiness(client)[0] == 503

    cluster = start_cluster(s3_endpoint, tmp_path / "qcluster.log")
    try:
        status, body = wait_for_readiness(client, 503, timeout=60)
        assert status == 200, (body, (tmp_path / "qcluster.log").read_text())
        assert body["status"] == "ok"
        assert body["checks"]["workers"]["state"].startswith("1 cluster(s) with 1 worker(s)")
        samples = scrape(client)
        assert samples[("dsm_worker_clusters_serving", ())] == 1
        [(labels, heartbeat)] = [
            (labels, value)
            for (name, labels), value in samples.items()
            if name == "dsm_worker_cluster_heartbeat_timestamp_seconds"
        ]
        assert time.time() - heartbeat < 10
        assert dict(labels)["state"] in ("Idle", "Working")
    finally:
        stop(cluster)

    # Its last heartbeat expires three seconds after it stopped.
    status, body = wait_for_readiness(client, 200, timeout=15)
    assert status == 503
    assert body["checks"]["workers"]["ok"] is False


def wait_for_readiness(client: Client, while_status: int, timeout: float) -> tuple[int, dict]:
    """Ask /readyz until it no longer answers `while_status` (or the time is up)."""
    deadline = time.monotonic() + timeout
    status, body = readiness(client)
    while status == while_status and time.monotonic() < deadline:
        time.sleep(0.5)
        status, body = readiness(client)
    return status, body
