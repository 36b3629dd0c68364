"""What a hostile client meets: bounded bodies and id lists, per-user throttling, filters and
pages that refuse what their schema forbids, JSON bodies only."""

from __future__ import annotations

import io
import json

import pytest
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured
from django.urls import get_resolver

from sharing_project.env import read_rate
from sharing_project.filters import StrictFilterSet
from sharing_project.parsers import BodyTooLarge, BoundedJSONParser


def test_a_body_over_the_limit_is_refused_with_413_naming_it(operator_client, settings, db):
    settings.API_MAX_BODY_BYTES = 2048
    body = {"libraryIdList": [f"L24{n:05d}" for n in range(400)], "dataTypeList": ["Fastq"]}
    assert len(json.dumps(body)) > 2048
    response = operator_client.post("/api/v1/jobs", body, format="json")
    assert response.status_code == 413
    assert "2048 bytes (API_MAX_BODY_BYTES)" in response.json()["detail"]


def test_a_body_under_the_limit_is_read(operator_client, settings, db):
    settings.API_MAX_BODY_BYTES = 2048
    response = operator_client.post("/api/v1/jobs", {"shareType": "pull"}, format="json")
    assert response.status_code == 400
    assert "dataTypeList" in response.json()


def test_the_parser_reads_no_more_than_the_limit_whatever_the_length_says(settings):
    """Behind a server that passes a body without Content-Length, the read itself is bounded."""
    settings.API_MAX_BODY_BYTES = 1024
    stream = io.BytesIO(json.dumps({"libraryIdList": ["L2400001"] * 200}).encode())
    with pytest.raises(BodyTooLarge):
        BoundedJSONParser().parse(stream, "application/json", {})
    assert stream.tell() == 1025
    assert BoundedJSONParser().parse(io.BytesIO(b'{"a": 1}'), "application/json", {}) == {"a": 1}


def test_an_id_list_over_the_limit_is_refused_naming_the_field(operator_client, settings, db):
    settings.API_MAX_IDS = 3
    ids = ["L2400001", "L2400002", "L2400003", "L2400004"]
    response = operator_client.post(
        "/api/v1/jobs",
        {"libraryIdList": ids, "dataTypeList": ["Fastq"], "shareType": "pull"},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["libraryIdList"] == [
        "At most 3 ids in one list (API_MAX_IDS); this one has more: split the share into "
        "several launches."
    ]


def test_an_id_list_at_the_limit_is_not_refused_for_its_length(operator_client, settings, db):
    settings.API_MAX_IDS = 3
    response = operator_client.post(
        "/api/v1/jobs",
        {"libraryIdList": ["L2400001"] * 3, "dataTypeList": ["Fastq"], "shareType": "pull"},
        format="json",
    )
    assert "API_MAX_IDS" not in json.dumps(response.json())


def test_the_schema_states_the_id_limit(operator_client, settings):
    settings.API_MAX_IDS = 7
    schema = operator_client.get("/api/schema?format=json").json()
    launch = schema["components"]["schemas"]["LaunchRequest"]["properties"]
    assert launch["libraryIdList"]["maxItems"] == 7


def test_a_form_body_is_refused_as_not_json(operator_client, db):
    response = operator_client.post("/api/v1/jobs", {"shareType": "pull"}, format="multipart")
    assert response.status_code == 415


@pytest.fixture
def throttled(settings):
    settings.API_THROTTLE_RATE = "3/minute"
    cache.clear()
    yield
    cache.clear()


def test_the_request_after_the_rate_is_refused_with_retry_after(
    throttled, operator_client, viewer_client
):
    for _ in range(3):
        assert operator_client.get("/api/v1/jobs").status_code == 200
    refused = operator_client.get("/api/v1/jobs")
    assert refused.status_code == 429
    assert 0 < int(refused["Retry-After"]) <= 60
    assert "throttled" in refused.json()["detail"]
    # Per user: another user is still served.
    assert viewer_client.get("/api/v1/jobs").status_code == 200


def test_no_throttle_when_the_rate_is_off(settings, operator_client):
    settings.API_THROTTLE_RATE = None
    cache.clear()
    assert all(operator_client.get("/api/v1/jobs").status_code == 200 for _ in range(20))


@pytest.mark.parametrize(
    ("value", "expected"),
    [("off", None), ("600/minute", "600/minute"), ("5/S", "5/s"), ("10/day", "10/day")],
)
def test_throttle_rates_are_read(monkeypatch, value, expected):
    monkeypatch.setenv("API_THROTTLE_RATE", value)
    assert read_rate("API_THROTTLE_RATE", "600/minute") == expected


@pytest.mark.parametrize("value", ["600", "0/minute", "ten/minute", "5/fortnight"])
def test_a_malformed_throttle_rate_stops_start_up(monkeypatch, value):
    monkeypatch.setenv("API_THROTTLE_RATE", value)
    with pytest.raises(ImproperlyConfigured, match="API_THROTTLE_RATE"):
        read_rate("API_THROTTLE_RATE", "600/minute")


@pytest.mark.parametrize(
    ("url", "parameter"),
    [
        ("/api/v1/fastqs?archived=-1", "archived"),
        ("/api/v1/jobs?status=", "status"),
        ("/api/v1/jobs?status=FAILED,", "status"),
        ("/api/v1/jobs?createdAfter=", "createdAfter"),
        ("/api/v1/jobs?shareType=", "shareType"),
        ("/api/v1/libraries?libraryId=", "libraryId"),
        ("/api/v1/libraries?libraryId=L2400001,,L2400002", "libraryId"),
        ("/api/v1/fastqs?lane=1.5", "lane"),
        ("/api/v1/libraries?page=0", "page"),
        ("/api/v1/libraries?page=last", "page"),
        ("/api/v1/libraries?pageSize=1001", "pageSize"),
        ("/api/v1/libraries?pageSize=0", "pageSize"),
    ],
)
def test_forbidden_filter_values_are_refused_naming_the_parameter(viewer_client, url, parameter):
    """Regression: ?archived=-1, ?status= and ?createdAfter= listed everything (issue 13)."""
    response = viewer_client.get(url)
    assert response.status_code == 400, response.content
    assert list(response.json()) == [parameter]
    assert len(response.json()[parameter]) == 1  # one message, the one that says what to do


def test_an_empty_status_says_what_to_do(viewer_client):
    response = viewer_client.get("/api/v1/jobs?status=")
    assert response.json() == {"status": ["'': give a value, or leave the parameter out."]}


def test_a_jobs_objects_filters_are_strict_too(launch, demo, operator_client):
    job = launch(libraryIdList=["L2400001"], dataTypeList=["Fastq"], shareType="pull", dryrun=True)
    url = job.json()["url"]
    assert operator_client.get(f"{url}/objects?archived=true").status_code == 200
    refused = operator_client.get(f"{url}/objects?archived=yes")
    assert refused.status_code == 400
    assert refused.json() == {"archived": ["'yes': give true or false."]}


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/fastqs?archived=false",
        "/api/v1/jobs?status=FAILED,ABORTED&createdAfter=2024-01-01T00:00:00Z",
        "/api/v1/libraries?libraryId=L2400001,L2400002&pageSize=1000",
        "/api/v1/libraries?page=1",
    ],
)
def test_allowed_filter_values_are_served(viewer_client, url):
    assert viewer_client.get(url).status_code == 200


def test_a_page_past_the_last_is_a_json_404(viewer_client, demo):
    response = viewer_client.get("/api/v1/libraries?page=999")
    assert response.status_code == 404
    assert response.json()["detail"].startswith("There is no page 999")


def test_an_id_with_a_dot_is_a_json_404(viewer_client, db):
    response = viewer_client.get("/api/v1/libraries/L2400001.json")
    assert response.status_code == 404
    assert response.json() == {"detail": "No Library matches the given query."}


def test_every_filter_set_of_the_api_is_strict():
    """StrictFilterExtension documents every filter of the API as strict: all must be."""
    viewsets = {
        getattr(pattern.callback, "cls", None)
        for pattern in get_resolver().url_patterns[2].url_patterns
    }
    filter_sets = [view.filterset_class for view in viewsets if view is not None]
    assert filter_sets
    assert all(issubclass(filter_set, StrictFilterSet) for filter_set in filter_sets)


def test_every_error_status_is_declared_with_its_body(viewer_client):
    schema = viewer_client.get("/api/schema?format=json").json()
    listing = schema["paths"]["/api/v1/libraries"]["get"]["responses"]
    assert set(listing) == {"200", "400", "401", "403", "404", "429"}
    assert listing["429"]["headers"]["Retry-After"]["required"] is True
    launch = schema["paths"]["/api/v1/jobs"]["post"]["responses"]
    assert {"202", "400", "409", "413", "415"} <= set(launch)
    assert launch["400"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/FieldErrors"
    }
    detail = schema["paths"]["/api/v1/jobs/{id}"]["get"]["responses"]
    assert "400" not in detail  # no parameter, no body: nothing to be wrong


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/jobs?createdAfter=9019-09-14T09:01:07.47-16:29",
        "/api/v1/jobs?createdBefore=0435-03-04T17:33:22%2B20:06",
        "/api/v1/audit-events?since=0283-08-18T18:24:14-16:14",
    ],
)
def test_a_time_with_any_offset_python_reads_is_served(viewer_client, url):
    """Regression (schemathesis, PostgreSQL): an offset past 15:59 was a 500, "time zone
    displacement out of range"; times are compared in UTC."""
    assert viewer_client.get(url).status_code == 200


def test_a_time_with_no_utc_equivalent_is_a_400_naming_the_parameter(viewer_client, db):
    response = viewer_client.get("/api/v1/jobs?createdAfter=0001-01-01T00:00:00%2B10:00")
    assert response.status_code == 400
    assert "out of range once in UTC" in response.json()["createdAfter"][0]
