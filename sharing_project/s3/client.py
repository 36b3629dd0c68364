"""S3 clients: the service's shared one, and ones signing with other credentials.

They follow boto3's standard configuration (profiles, roles, AWS_* variables) plus the endpoint
and region from settings, sign with SigV4 (with a custom endpoint boto3 would presign with SigV2
otherwise) and retry throttling and 5xx in botocore's standard mode.
"""

from __future__ import annotations

import functools

import boto3
from botocore.config import Config
from django.conf import settings


@functools.cache
def _session_client(endpoint_url: str | None, region: str, max_attempts: int):
    config = Config(
        signature_version="s3v4",
        retries={"mode": "standard", "total_max_attempts": max_attempts},
        # A custom endpoint on loopback has no per-bucket host names.
        s3={"addressing_style": "path" if endpoint_url else "auto"},
        max_pool_connections=32,
    )
    return boto3.session.Session().client(
        "s3", endpoint_url=endpoint_url, region_name=region, config=config
    )


def client():
    """A shared, thread-safe S3 client built from settings."""
    return _session_client(settings.AWS_ENDPOINT_URL, settings.AWS_REGION, settings.S3_MAX_ATTEMPTS)


def client_for_credentials(access_key: str, secret_key: str, session_token: str, region: str):
    """An S3 client like `client()` (endpoint, SigV4, retries) signing with these credentials,
    e.g. the temporary ones ICAv2 hands out for a folder. Build one per set of credentials and
    share it between threads."""
    config = Config(
        signature_version="s3v4",
        retries={"mode": "standard", "max_attempts": settings.S3_MAX_ATTEMPTS},
        s3={"addressing_style": "path" if settings.AWS_ENDPOINT_URL else "auto"},
        max_pool_connections=32,
    )
    return boto3.session.Session().client(
        "s3",
        endpoint_url=settings.AWS_ENDPOINT_URL,
        region_name=region,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        aws_session_token=session_token,
        config=config,
    )
