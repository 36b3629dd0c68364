from __future__ import annotations

import pytest
import requests
from django.apps import apps
from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Model
from moto.server import ThreadedMotoServer
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from sharing_project.roles import OPERATORS, VIEWERS, ensure_groups
from sharing_project.s3.client import client as service_client
from sharing_project.s3.objects import ensure_bucket


@pytest.fixture(scope="session")
def s3_endpoint() -> str:
    """A real S3 server (moto's server mode) on loopback, for the whole session."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    previous = settings.AWS_ENDPOINT_URL
    settings.AWS_ENDPOINT_URL = endpoint
    yield endpoint
    settings.AWS_ENDPOINT_URL = previous
    server.stop()


_S3_STATE = {"demo_objects": False}


def _reset_s3(endpoint: str) -> None:
    requests.post(f"{endpoint}/moto-api/reset", timeout=10).raise_for_status()
    _S3_STATE["demo_objects"] = False


@pytest.fixture
def s3(s3_endpoint: str):
    """An empty S3 server; returns the shared client the service itself uses."""
    _reset_s3(s3_endpoint)
    yield service_client()
    _S3_STATE["demo_objects"] = False  # whatever the test wrote is not the demo


@pytest.fixture
def demo(s3_endpoint: str, db) -> None:
    """The demo catalogue with its objects in S3, which tests only read.

    Writing ~170 objects is most of a demo's cost, so they stay in S3 between tests until a
    test that uses `s3` or `fresh_demo` changes the server.
    """
    from catalogue.demo import put_demo_objects

    if not _S3_STATE["demo_objects"]:
        _reset_s3(s3_endpoint)
        put_demo_objects(settings.DEMO_BUCKET)
        ensure_bucket(settings.SHARING_BUCKET)
        _S3_STATE["demo_objects"] = True
    _demo_catalogue()


_DEMO_ROWS: list[tuple[type[Model], list[dict]]] = []


def _demo_catalogue() -> None:
    """The demo's catalogue rows in this test's database. The importer runs once a session (some
    500 queries, a quarter of a second); each later test gets the rows it wrote back with one
    insert per table. The demo is deterministic, so the rows are the same."""
    from catalogue.demo import import_demo_catalogue

    tables = list(apps.get_app_config("catalogue").get_models(include_auto_created=True))
    if any(model.objects.exists() for model in tables):
        import_demo_catalogue(settings.DEMO_BUCKET)  # upsert into what the test made
    elif _DEMO_ROWS:
        with transaction.atomic():  # foreign keys are checked at its end, whatever the order
            for model, rows in _DEMO_ROWS:
                model.objects.bulk_create(model(**row) for row in rows)
    else:
        import_demo_catalogue(settings.DEMO_BUCKET)
        _DEMO_ROWS.extend((model, list(model.objects.values())) for model in tables)


@pytest.fixture
def fresh_demo(s3, db):
    """The demo on a freshly reset S3 server, for tests that change objects."""
    from catalogue.demo import seed_demo

    ensure_bucket(settings.SHARING_BUCKET)
    return seed_demo()


def _user(username: str, group: str | None) -> User:
    user = User.objects.create_user(username, password="pw-for-tests", is_staff=True)
    if group:
        user.groups.add(ensure_groups()[group])
    return user


@pytest.fixture
def operator(db) -> User:
    return _user("olivia-operator", OPERATORS)


@pytest.fixture
def viewer(db) -> User:
    return _user("victor-viewer", VIEWERS)


@pytest.fixture
def anonymous_client() -> APIClient:
    return APIClient()


def _token_client(user: User) -> APIClient:
    """A client that authenticates the way automation does: with an API token."""
    client = APIClient()
    token = Token.objects.create(user=user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


@pytest.fixture
def viewer_client(viewer: User) -> APIClient:
    return _token_client(viewer)


@pytest.fixture
def operator_client(operator: User) -> APIClient:
    return _token_client(operator)


def pytest_report_header(config) -> str:
    database = settings.DATABASES["default"]
    return f"database: {database['ENGINE'].rsplit('.', 1)[-1]} {database.get('HOST') or ''}".strip()


@pytest.fixture
def recipient(db):
    """A collaborator who may receive pushes under s3://collaborator-bucket/cup/."""
    from recipients.models import Recipient

    return Recipient.objects.create(
        recipient_id="garvan-ccg",
        name="Garvan clinical genomics",
        organisation="Garvan Institute",
        contact_emails=["ccg-data@example.org"],
        allowed_destinations=["s3://collaborator-bucket/cup/"],
    )


@pytest.fixture
def launch(operator_client, django_capture_on_commit_callbacks):
    """POST a launch as an operator; queued tasks run (django-q2 sync mode) once committed."""

    def post(client=None, **payload):
        with django_capture_on_commit_callbacks(execute=True):
            return (client or operator_client).post("/api/v1/jobs", payload, format="json")

    return post


@pytest.fixture
def pull(launch, demo, operator_client, tmp_path):
    """Launch a pull as an operator and fetch its two outputs with curl, as a collaborator
    would; returns the job (as the API shows it), the script and the LIMS CSV."""
    import subprocess

    def make(**payload):
        response = launch(shareType="pull", **payload)
        assert response.status_code == 202, response.content
        job = operator_client.get(response.json()["url"]).json()
        assert job["status"] == "SUCCEEDED", job
        script, csv = tmp_path / "data-download.sh", tmp_path / "lims.csv"
        for target, link in (
            (script, job["outputs"]["dataDownloadScript"]["url"]),
            (csv, job["outputs"]["limsCsv"]["url"]),
        ):
            subprocess.run(["curl", "-fsS", "-o", str(target), link], check=True)
        return job, script, csv

    return make


SHARE_LINK_LIBRARY = {
    "libraryIdList": ["L2400003"],
    "dataTypeList": ["Fastq", "SecondaryAnalysis"],
}


@pytest.fixture
def link_pull(launch, demo, operator_client, live_server, settings, tmp_path):
    """Launch a pull with PUBLIC_BASE_URL set to the live server; fetch its script with curl
    through the link, as a collaborator would. Returns the job (as the API shows it) and the
    script's path (tests/test_share_links.py, tests/test_share_link_operators.py)."""
    import subprocess

    settings.PUBLIC_BASE_URL = live_server.url

    def make(base_url: str | None = None, **payload):
        """`base_url`: the address the link names instead of the live server's (a proxy)."""
        settings.PUBLIC_BASE_URL = base_url or live_server.url
        response = launch(shareType="pull", **(payload or SHARE_LINK_LIBRARY))
        assert response.status_code == 202, response.content
        job = operator_client.get(response.json()["url"]).json()
        assert job["status"] == "SUCCEEDED", job
        script = tmp_path / "data-download.sh"
        url = job["outputs"]["dataDownloadScript"]["url"]
        subprocess.run(["curl", "-fsS", "-o", str(script), url], check=True, timeout=30)
        return job, script

    return make
