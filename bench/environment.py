"""The process environment: Django's settings and AWS credentials, set before django.setup()."""

from __future__ import annotations

import os
from pathlib import Path

REGION = "ap-southeast-2"
ACCESS_KEY = "bench"
SECRET = "bench"  # noqa: S105 (moto accepts any credentials)


def aws_environment(endpoint: str, scratch: Path) -> dict[str, str]:
    """Variables for this process and the tools it runs; no profile or shared file is read."""
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET,
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_CONFIG_FILE": str(scratch / "aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(scratch / "aws-credentials"),
    }


def setup_django(endpoint: str, scratch: Path) -> None:
    """Point the project's settings at the benchmark's S3 server; no database is used."""
    for name in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "PRESIGN_AWS_PROFILE", "DATABASE_URL"):
        os.environ.pop(name, None)
    data_dir = scratch / "dsm-data"
    data_dir.mkdir()
    os.environ.update(aws_environment(endpoint, scratch))
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "sharing_project.settings",
            "SECRET_KEY": "bench",
            "DSM_DATA_DIR": str(data_dir),
        }
    )
    import django

    django.setup()
