"""Start-up configuration: safe embedded defaults, and clear refusals of bad values.

Each case starts Django in a fresh interpreter with its own environment, as a deployment would.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sharing_project.env import write_env_file

pytestmark = pytest.mark.e2e  # a fresh interpreter per case

ROOT = Path(__file__).resolve().parent.parent
PROBE = (
    "import json, django; from django.conf import settings; django.setup(); "
    "db = settings.DATABASES['default']; "
    "print(json.dumps({'debug': settings.DEBUG, 'engine': db['ENGINE'], "
    "'options': db.get('OPTIONS', {}), 'lifetime': settings.PRESIGNED_URL_LIFETIME_SECONDS, "
    "'broker': settings.Q_CLUSTER.get('orm'), 'secret': settings.SECRET_KEY, 'db': db['NAME'], "
    "'endpoint': settings.AWS_ENDPOINT_URL, 'bucket': settings.SHARING_BUCKET}))"
)


def start_django(tmp_path: Path, **variables: str | None) -> subprocess.CompletedProcess:
    """Django in a fresh interpreter; a variable given as None is left out of its environment."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DSM_", "AWS_", "DATABASE_URL", "SECRET_KEY", "DEBUG", "PRESIGNED"))
    }
    env |= {
        "DJANGO_SETTINGS_MODULE": "sharing_project.settings",
        "DSM_DATA_DIR": str(tmp_path),
        # Not the checkout's data/embedded.env, which `make run` may have left.
        "DSM_ENV_FILE": str(tmp_path / "embedded.env"),
    }
    env |= variables
    env = {key: value for key, value in env.items() if value is not None}
    return subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True
    )


def loaded(result: subprocess.CompletedProcess) -> dict:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_non_embedded_start_without_secret_key_is_refused(tmp_path):
    assert not (tmp_path / "embedded.env").exists()
    result = start_django(tmp_path)
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


def write_make_run_env_file(tmp_path: Path, **variables: str) -> None:
    write_env_file(tmp_path / "embedded.env", variables, header="as `make run` writes it")


def test_settings_left_by_make_run_in_the_env_file_are_read(tmp_path):
    """`manage.py` in another shell after `make run` said SECRET_KEY is not set."""
    other_data = tmp_path / "run-data"
    write_make_run_env_file(
        tmp_path,
        SECRET_KEY="key-of-the-embedded-run",
        DSM_DATA_DIR=str(other_data),
        AWS_ENDPOINT_URL="http://127.0.0.1:4599",
    )
    settings = loaded(start_django(tmp_path, DSM_DATA_DIR=None))
    assert settings["secret"] == "key-of-the-embedded-run"
    assert settings["db"] == str(other_data / "db.sqlite3")
    assert settings["endpoint"] == "http://127.0.0.1:4599"
    assert settings["debug"] is False


def test_the_environment_wins_over_the_env_file(tmp_path):
    write_make_run_env_file(
        tmp_path,
        SECRET_KEY="key-of-the-embedded-run",
        AWS_ENDPOINT_URL="http://127.0.0.1:4599",
        SHARING_BUCKET="bucket-of-the-file",
    )
    settings = loaded(
        start_django(tmp_path, SECRET_KEY="key-of-the-shell", SHARING_BUCKET="bucket-of-the-shell")
    )
    assert settings["secret"] == "key-of-the-shell"
    assert settings["bucket"] == "bucket-of-the-shell"
    assert settings["endpoint"] == "http://127.0.0.1:4599"


def test_env_file_values_are_read_as_written(tmp_path):
    secret = "a'b\"c #d $e f=g\\n"
    write_make_run_env_file(tmp_path, SECRET_KEY=secret)
    assert loaded(start_django(tmp_path))["secret"] == secret


def test_embedded_start_generates_a_secret_key_once_and_keeps_it(tmp_path):
    first = loaded(start_django(tmp_path, DSM_EMBEDDED="true"))
    second = loaded(start_django(tmp_path, DSM_EMBEDDED="true"))
    assert len(first["secret"]) >= 50
    assert first["secret"] == second["secret"]
    assert (tmp_path / "secret_key").read_text().strip() == first["secret"]
    assert oct((tmp_path / "secret_key").stat().st_mode & 0o777) == "0o600"


def test_debug_is_off_unless_the_embedded_run_turns_it_on(tmp_path):
    assert loaded(start_django(tmp_path, SECRET_KEY="k" * 50))["debug"] is False
    assert loaded(start_django(tmp_path, DSM_EMBEDDED="true"))["debug"] is True
    assert loaded(start_django(tmp_path, DSM_EMBEDDED="true", DEBUG="false"))["debug"] is False


def test_default_database_is_sqlite_in_wal_mode_with_a_busy_timeout(tmp_path):
    settings = loaded(start_django(tmp_path, SECRET_KEY="k" * 50))
    assert settings["engine"] == "django.db.backends.sqlite3"
    assert "journal_mode=WAL" in settings["options"]["init_command"]
    assert settings["options"]["transaction_mode"] == "IMMEDIATE"
    assert settings["options"]["timeout"] >= 5
    assert settings["broker"] == "default"


def test_postgres_database_url_is_used(tmp_path):
    settings = loaded(
        start_django(tmp_path, SECRET_KEY="k", DATABASE_URL="postgres://u@127.0.0.1:5432/dsm")
    )
    assert settings["engine"] == "django.db.backends.postgresql"


def test_presigned_url_lifetime_defaults_to_seven_days(tmp_path):
    assert loaded(start_django(tmp_path, SECRET_KEY="k"))["lifetime"] == 7 * 24 * 3600


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("DEBUG", "maybe", "DEBUG must be true or false"),
        ("DSM_EMBEDDED", "perhaps", "DSM_EMBEDDED must be true or false"),
        ("PRESIGNED_URL_LIFETIME_SECONDS", "604801", "PRESIGNED_URL_LIFETIME_SECONDS must be"),
        ("PRESIGNED_URL_LIFETIME_SECONDS", "a week", "PRESIGNED_URL_LIFETIME_SECONDS must be a"),
        ("DATABASE_URL", "mysql://root@localhost/dsm", "DATABASE_URL must point to PostgreSQL"),
        ("DATABASE_URL", "not a url", "DATABASE_URL"),
        ("AWS_ENDPOINT_URL", "ftp://127.0.0.1:21", "AWS_ENDPOINT_URL must be an http"),
        ("Q_CLUSTER_WORKERS", "0", "Q_CLUSTER_WORKERS must be between 1 and 64"),
        ("Q_CLUSTER_POLL_MS", "0.05", "Q_CLUSTER_POLL_MS must be a whole number"),
        ("DRYRUN_MAX_AGE_SECONDS", "-5", "DRYRUN_MAX_AGE_SECONDS must be between"),
        ("LOG_FORMAT", "xml", "LOG_FORMAT must be plain or json"),
        ("METRICS_TOKEN", "short", "METRICS_TOKEN must be at least 16 characters"),
        ("EGRESS_PRICE_PER_GB_INTERNET", "cheap", "EGRESS_PRICE_PER_GB_INTERNET must be a decimal"),
        ("EGRESS_PRICE_PER_GB_INTERNET", "0.000001", "with at most 4 decimals"),
        ("EGRESS_PRICE_PER_GB_CROSS_REGION", "-0.02", "must be between 0 and 1000"),
        ("EGRESS_PRICE_PER_GB_CROSS_REGION", "NaN", "EGRESS_PRICE_PER_GB_CROSS_REGION must be"),
        ("EGRESS_CURRENCY", "US dollars", "EGRESS_CURRENCY must be a currency code"),
        ("TRANSFER_BANDWIDTH_MBPS", "0", "TRANSFER_BANDWIDTH_MBPS must be between 1 and"),
    ],
)
def test_malformed_value_stops_start_up_naming_the_variable(tmp_path, variable, value, message):
    result = start_django(tmp_path, SECRET_KEY="k" * 50, **{variable: value})
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert message in result.stderr


def test_cost_settings_come_from_the_environment_exactly(tmp_path):
    probe = (
        "import json, django; from django.conf import settings; django.setup(); "
        "print(json.dumps([str(settings.EGRESS_PRICE_PER_GB_INTERNET), "
        "str(settings.EGRESS_PRICE_PER_GB_CROSS_REGION), settings.EGRESS_CURRENCY, "
        "settings.TRANSFER_BANDWIDTH_MBPS]))"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "sharing_project.settings", "SECRET_KEY": "k"}
    env |= {"DSM_DATA_DIR": str(tmp_path), "DSM_ENV_FILE": os.devnull}
    env |= {"EGRESS_PRICE_PER_GB_INTERNET": "0.114", "EGRESS_PRICE_PER_GB_CROSS_REGION": "0.098"}
    env |= {"EGRESS_CURRENCY": "AUD", "TRANSFER_BANDWIDTH_MBPS": "250"}
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert loaded(result) == ["0.114", "0.098", "AUD", 250]


def test_endpoint_and_bucket_come_from_the_environment(tmp_path):
    settings = loaded(
        start_django(
            tmp_path,
            SECRET_KEY="k",
            AWS_ENDPOINT_URL="http://127.0.0.1:9000/",
            SHARING_BUCKET="centre-shares",
        )
    )
    assert settings["endpoint"] == "http://127.0.0.1:9000"
    assert settings["bucket"] == "centre-shares"
