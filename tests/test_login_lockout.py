"""Admin logins are rate limited (django-axes): a username that keeps failing from one address
is locked out there for a while, even with the right password; nobody else is.

Every login goes through the admin's real login form (Django's test client, the full middleware
stack), as a person's browser would post it.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.test import Client, override_settings

PASSWORD = "pw-for-tests"  # tests/conftest.py's personas
LOGIN = "/admin/login/"
LOCKED = 429  # django-axes' answer to a locked-out login


def post_login(client: Client, username: str, password: str, **headers: str):
    return client.post(
        LOGIN, {"username": username, "password": password, "next": "/admin/"}, **headers
    )


def fail_until_locked(username: str, **headers: str) -> None:
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        post_login(client, username, "wrong-password", **headers)


def logs_in(username: str, **headers: str) -> int:
    """The login form's answer to the right password: 302 to the admin when it works."""
    return post_login(Client(), username, PASSWORD, **headers).status_code


@pytest.mark.django_db
def test_failed_logins_lock_the_user_out_even_with_the_right_password(operator):
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert post_login(client, operator.username, "wrong-password").status_code == 200
    assert logs_in(operator.username) == 302  # below the limit, the right password still works
    client.logout()

    fail_until_locked(operator.username)
    answer = post_login(client, operator.username, PASSWORD)
    assert answer.status_code == LOCKED
    assert b"too many login attempts" in answer.content
    assert client.get("/admin/").status_code == 302  # not logged in: sent to the login page


@pytest.mark.django_db
def test_a_lockout_spares_other_users_and_other_addresses(operator, viewer):
    fail_until_locked(operator.username, REMOTE_ADDR="198.51.100.7")

    assert logs_in(operator.username, REMOTE_ADDR="198.51.100.7") == LOCKED
    assert logs_in(viewer.username, REMOTE_ADDR="198.51.100.7") == 302
    assert logs_in(operator.username, REMOTE_ADDR="198.51.100.8") == 302


@pytest.mark.django_db
def test_a_lockout_ends_after_the_cool_off(operator):
    fail_until_locked(operator.username)
    assert logs_in(operator.username) == LOCKED

    AccessAttempt.objects.update(
        attempt_time=AccessAttempt.objects.get().attempt_time
        - settings.AXES_COOLOFF_TIME
        - timedelta(seconds=1)
    )
    assert logs_in(operator.username) == 302


@pytest.mark.django_db
def test_api_tokens_work_while_the_password_is_locked_out(operator, operator_client):
    fail_until_locked(operator.username)
    assert logs_in(operator.username) == LOCKED
    assert operator_client.get("/api/v1/jobs").status_code == 200


# What settings.py sets for FORWARDED_FOR_PROXIES=1 (one nginx in front of gunicorn).
ONE_PROXY = {
    "AXES_IPWARE_META_PRECEDENCE_ORDER": ("HTTP_X_FORWARDED_FOR", "REMOTE_ADDR"),
    "AXES_IPWARE_PROXY_COUNT": 0,
    "IPWARE_STRICT": False,
}
PROXY = {"REMOTE_ADDR": "127.0.0.1"}


@pytest.mark.django_db
@override_settings(**ONE_PROXY)
def test_behind_a_proxy_the_client_address_comes_from_x_forwarded_for(operator):
    fail_until_locked(operator.username, **PROXY, HTTP_X_FORWARDED_FOR="203.0.113.5")

    assert logs_in(operator.username, **PROXY, HTTP_X_FORWARDED_FOR="203.0.113.5") == LOCKED
    # Another client behind the same proxy is another address.
    assert logs_in(operator.username, **PROXY, HTTP_X_FORWARDED_FOR="203.0.113.6") == 302
    # A client that writes its own X-Forwarded-For is still known by the proxy's entry.
    forged = "192.0.2.99, 203.0.113.5"
    assert logs_in(operator.username, **PROXY, HTTP_X_FORWARDED_FOR=forged) == LOCKED


@pytest.mark.django_db
def test_without_a_proxy_setting_x_forwarded_for_is_ignored(operator):
    """A client cannot dodge the lockout by sending a new X-Forwarded-For each time."""
    fail_until_locked(operator.username, HTTP_X_FORWARDED_FOR="203.0.113.5")
    assert logs_in(operator.username, HTTP_X_FORWARDED_FOR="203.0.113.77") == LOCKED
