"""The API as a hostile client meets it: schemathesis generates requests from /api/schema (valid
ones and ones the schema forbids) and checks every answer against the same schema.

An operator's token, so that every operation is reachable; the app is called in process
(WSGI), inside the test's transaction, on the demo catalogue. A launch that passes validation
is saved and its task is left uncommitted (the test's transaction never commits, so nothing
is enqueued): POST /jobs, abort, rerun and new-links are fuzzed like every other operation and
cannot start work. Bounded: schemathesis's coverage phase (boundary and forbidden values of
each parameter, other methods) and 10 random examples an operation, some 1,200 requests and
about 30 s of CPU; derandomized, so CI sends the same requests every run. Marked e2e (it takes
seconds): `make test` and CI run it, `make test-fast` does not.

Every check runs. Positive-data acceptance is relaxed for POST /jobs only: a launch's rules
reach beyond its schema (see CONFIG).
"""

from __future__ import annotations

import json

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, settings
from rest_framework.authtoken.models import Token

CONFIG = schemathesis.Config.from_dict(
    {
        "generation": {"mode": "all", "max-examples": 10, "deterministic": True},
        "checks": {
            "not_a_server_error": {"enabled": True},
            "status_code_conformance": {"enabled": True},
            "content_type_conformance": {"enabled": True},
            "response_schema_conformance": {"enabled": True},
            "response_headers_conformance": {"enabled": True},
            "negative_data_rejection": {"enabled": True},
            "positive_data_acceptance": {"enabled": True},
        },
        "operations": [
            {
                # A launch's rules reach beyond its schema (the ids must be in the catalogue,
                # at most one metadata list, the selection must match data): a schema-valid
                # launch is rightly refused with a 400 that names the field.
                "include-operation-id": "v1_jobs_create",
                "checks": {
                    "positive_data_acceptance": {
                        "expected-statuses": ["202", "400", "401", "403", "409", "429"]
                    }
                },
            }
        ],
    }
)


@pytest.fixture
def operator_token(operator) -> str:
    return Token.objects.create(user=operator).key


def _served_schema() -> dict:
    """The schema /api/schema serves (test_fuzzed_schema_is_the_served_one checks it), built
    at import so that pytest lists one test per operation."""
    return SchemaGenerator().get_schema(request=None, public=True)


# The app called in this process (checks that send a request of their own call it too).
schema = schemathesis.openapi.from_dict(_served_schema(), config=CONFIG)
pytestmark = pytest.mark.e2e
schema.app = get_wsgi_application()


@pytest.fixture
def in_test_transaction(demo):
    """The app's requests in the test's transaction, on the demo catalogue.

    Django's test client keeps the test's connection open across requests by not closing
    connections when a request starts or finishes; the bare WSGI handler would close it
    mid-transaction.
    """
    for signal in (request_started, request_finished):
        signal.disconnect(close_old_connections)
    yield
    for signal in (request_started, request_finished):
        signal.connect(close_old_connections)


def test_fuzzed_schema_is_the_served_one(operator_client):
    served = operator_client.get("/api/schema?format=json")
    assert served.status_code == 200
    assert served.json() == json.loads(json.dumps(_served_schema()))


@schema.parametrize()
@settings(deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_api_answers_as_its_schema_says(case, in_test_transaction, operator_token):
    case.call_and_validate(headers={"Authorization": f"Token {operator_token}"})
