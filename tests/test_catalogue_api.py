"""The read-only catalogue API: authentication, filters, pagination and its OpenAPI schema."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from catalogue.demo import ARCHIVED_LIBRARY, RUN_A
from catalogue.models import Fastq, Library, WorkflowRun

pytestmark = pytest.mark.django_db

ENDPOINTS = ["/api/v1/libraries", "/api/v1/fastqs", "/api/v1/workflow-runs", "/api/schema"]


@pytest.mark.parametrize("url", ENDPOINTS)
def test_anonymous_requests_are_refused(anonymous_client, url):
    response = anonymous_client.get(url)
    assert response.status_code == 401


def test_a_bad_token_is_refused(anonymous_client, demo):
    anonymous_client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    assert anonymous_client.get("/api/v1/libraries").status_code == 401


def test_users_outside_the_viewer_and_operator_groups_see_no_catalogue(demo):
    from django.contrib.auth.models import User
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    stranger = User.objects.create_user("sam-stranger", password="pw")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=stranger).key}")
    for url in ENDPOINTS[:3]:
        assert client.get(url).status_code == 403


def test_session_login_reaches_the_api(client, viewer, demo):
    # Through the admin's login form: django-axes watches logins and needs the request.
    login = {"username": viewer.username, "password": "pw-for-tests", "next": "/admin/"}
    assert client.post("/admin/login/", login).status_code == 302
    assert client.get("/api/v1/libraries").status_code == 200


def test_catalogue_is_read_only(operator_client, demo):
    count = Library.objects.count()
    assert operator_client.post("/api/v1/libraries", {"libraryId": "L2499999"}).status_code in (
        403,
        405,
    )
    assert operator_client.delete("/api/v1/libraries/L2400001").status_code in (403, 405)
    assert Library.objects.count() == count


def test_library_detail_in_camel_case(viewer_client, demo):
    body = viewer_client.get("/api/v1/libraries/L2400001").json()
    assert body["libraryId"] == "L2400001"
    assert body["phenotype"] == "tumor"
    assert body["projectIds"] == ["CUP", "PANCAN"]
    assert body["individualIds"] == ["SBJ00001"]
    assert body["subjectId"] == "SN_PMCC-0001"
    assert body["sampleId"] == "PRJ240001"


def test_unknown_library_is_404(viewer_client, demo):
    assert viewer_client.get("/api/v1/libraries/L2499999").status_code == 404


def library_ids(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [row["libraryId"] for row in response.json()["results"]]


def test_libraries_filter_by_project_and_phenotype(viewer_client, demo):
    expected = Library.objects.filter(projects__project_id="BPOP", phenotype="normal")
    ids = library_ids(viewer_client.get("/api/v1/libraries?projectId=BPOP&phenotype=normal"))
    assert ids == sorted(expected.values_list("library_id", flat=True))
    assert ids


def test_libraries_filter_by_a_comma_separated_list(viewer_client, demo):
    ids = library_ids(viewer_client.get("/api/v1/libraries?libraryId=L2400003,L2400001"))
    assert ids == ["L2400001", "L2400003"]


def test_libraries_filter_by_individual(viewer_client, demo):
    ids = library_ids(viewer_client.get("/api/v1/libraries?individualId=SBJ00002"))
    assert ids == ["L2400003", "L2400004", "L2400022"]


def test_bad_filter_value_is_400_naming_the_parameter(viewer_client, demo):
    response = viewer_client.get("/api/v1/libraries?phenotype=sideways")
    assert response.status_code == 400
    assert "phenotype" in response.json()


def test_pagination_walks_every_library_once(viewer_client, demo):
    seen: list[str] = []
    url = "/api/v1/libraries?pageSize=7"
    while url:
        body = viewer_client.get(url).json()
        assert body["count"] == Library.objects.count()
        seen += [row["libraryId"] for row in body["results"]]
        url = body["next"]
    assert seen == sorted(Library.objects.values_list("library_id", flat=True))


def test_fastqs_filter_by_run_and_archived(viewer_client, demo):
    body = viewer_client.get(f"/api/v1/fastqs?instrumentRunId={RUN_A}&archived=true").json()
    assert body["count"] == 1
    row = body["results"][0]
    assert row["libraryId"] == ARCHIVED_LIBRARY
    assert row["archived"] is True
    assert row["read1"]["storageClass"] == "DEEP_ARCHIVE"
    assert row["read2"]["s3Uri"].endswith("_R2_001.fastq.gz")
    count = viewer_client.get(f"/api/v1/fastqs?instrumentRunId={RUN_A}").json()["count"]
    assert count == Fastq.objects.filter(instrument_run_id=RUN_A).count()


def test_fastqs_filter_by_library_and_lane(viewer_client, demo):
    rows = viewer_client.get("/api/v1/fastqs?libraryId=L2400001").json()["results"]
    assert {(r["instrumentRunId"], r["lane"]) for r in rows} == {
        (f.instrument_run_id, f.lane) for f in Fastq.objects.filter(library__library_id="L2400001")
    }
    assert len(rows) == 2


def test_workflow_runs_filter_by_alias_and_library(viewer_client, demo):
    rows = viewer_client.get(
        "/api/v1/workflow-runs?workflowName=dragen-wgts-dna&libraryId=L2400001"
    ).json()["results"]
    assert len(rows) == 2
    assert {r["workflowName"] for r in rows} == {"tumor-normal"}
    assert all(r["libraryIds"] == ["L2400001", "L2400002"] for r in rows)


def test_workflow_runs_filter_by_status(viewer_client, demo):
    rows = viewer_client.get("/api/v1/workflow-runs?status=FAILED").json()["results"]
    assert [r["portalRunId"] for r in rows] == list(
        WorkflowRun.objects.filter(status="FAILED").values_list("portal_run_id", flat=True)
    )


def test_workflow_run_detail_by_portal_run_id(viewer_client, demo):
    run = WorkflowRun.objects.first()
    body = viewer_client.get(f"/api/v1/workflow-runs/{run.portal_run_id}").json()
    assert body["outputUri"] == run.output_uri


def test_openapi_schema_is_valid(tmp_path):
    target = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target))
    text = target.read_text()
    for path in ("/api/v1/libraries", "/api/v1/fastqs", "/api/v1/workflow-runs"):
        assert f"{path}:" in text


def test_swagger_ui_is_served_locally_without_a_cdn(client, viewer):
    client.force_login(viewer)
    page = client.get("/api/docs").content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/" in page
    for cdn in ("cdn.jsdelivr", "unpkg.com", "cdnjs"):
        assert cdn not in page
