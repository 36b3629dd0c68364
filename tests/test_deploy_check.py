"""Production settings: `manage.py check --deploy` passes on the defaults, fails on a weak one,
and DEBUG is refused outside the embedded run.

Each case runs manage.py in a fresh interpreter with the environment a deployment has (the
real settings module, not tests/settings.py), as an operator would before starting the service.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def production_environment(tmp_path: Path, **variables: str | None) -> dict[str, str]:
    """What docs/deploy.md's env file sets; a variable given as None is left out."""
    env = {
        key: value
        for key, value in os.environ.items()
        # DJANGO_: tests/support/browser.py sets DJANGO_ALLOW_ASYNC_UNSAFE, which the check
        # rightly refuses in a deployment.
        if not key.startswith(
            ("DSM_", "DJANGO_", "AWS_", "SECRET_KEY", "DEBUG", "SECURE_", "ALLOWED_HOSTS")
        )
        and not key.endswith("_COOKIE_SECURE")
    }
    env |= {
        "DJANGO_SETTINGS_MODULE": "sharing_project.settings",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "dsm.example.org",
        "DSM_DATA_DIR": str(tmp_path),
        # Not the checkout's data/embedded.env, which `make run` may have left.
        "DSM_ENV_FILE": os.devnull,
    }
    # The suite's database (PostgreSQL in CI); a file of its own otherwise.
    env["DATABASE_URL"] = os.environ.get("DATABASE_URL") or f"sqlite:///{tmp_path / 'db.sqlite3'}"
    env |= variables
    return {key: value for key, value in env.items() if value is not None}


def deploy_check(tmp_path: Path, **variables: str | None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=production_environment(tmp_path, **variables),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_deploy_check_passes_on_the_production_defaults(tmp_path):
    result = deploy_check(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout
    assert "WARNING" not in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("variable", "value", "warning"),
    [
        ("SECRET_KEY", "short-and-guessable", "security.W009"),
        ("SECURE_SSL_REDIRECT", "false", "security.W008"),
    ],
)
def test_deploy_check_fails_on_a_weak_setting(tmp_path, variable, value, warning):
    result = deploy_check(tmp_path, **{variable: value})
    assert result.returncode != 0
    assert warning in result.stderr


def test_debug_outside_the_embedded_run_is_refused_at_start_up(tmp_path):
    result = deploy_check(tmp_path, DEBUG="true")
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "DEBUG=true is refused outside the embedded run" in result.stderr


def test_the_example_env_file_of_deploy_md_passes_the_check(tmp_path):
    """docs/deploy.md: /etc/dsm/dsm.env made from deploy/dsm.env.example, read by manage.py
    through DSM_ENV_FILE, with nothing else set."""
    example = (ROOT / "deploy" / "dsm.env.example").read_text()
    database = os.environ.get("DATABASE_URL") or f"sqlite:///{tmp_path / 'db.sqlite3'}"
    env_file = tmp_path / "dsm.env"
    env_file.write_text(
        example.replace("REPLACE-WITH-50-RANDOM-CHARACTERS", secrets.token_urlsafe(50))
        .replace("DSM_DATA_DIR=/var/lib/dsm", f"DSM_DATA_DIR={tmp_path}")
        .replace(
            "DATABASE_URL=postgres://dsm:REPLACE-WITH-DB-PASSWORD@db.example.org:5432/dsm",
            f"DATABASE_URL={database}",
        )
    )
    assert f"DATABASE_URL={database}" in env_file.read_text()
    result = deploy_check(
        tmp_path,
        DSM_ENV_FILE=str(env_file),
        SECRET_KEY=None,
        ALLOWED_HOSTS=None,
        DSM_DATA_DIR=None,
        DATABASE_URL=None,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout
