"""S3 clients: the service's shared one, and ones signing with other credentials.

They follow boto3's standard configuration (profiles, roles, AWS_* variables) plus the endpoint
and region from settings, and all take their botocore configuration from `config()`.
"""

from __future__ import annotations

import functools
import threading

import boto3
import botocore.session
from botocore.config import Config
from django.conf import settings

# Held while the shared client and loader are built: threads that ask for them at the same
# moment (a push's copy threads as a worker starts) wait for the first one instead of each
# building its own (functools.cache does not lock), which cost about 13 MB a thread.
_building = threading.RLock()


def config(endpoint_url: str | None, max_attempts: int) -> Config:
    """The botocore configuration of every S3 client the service builds (the shared one,
    those for other credentials, the presigner's):

    - SigV4: with a custom endpoint boto3 would presign with SigV2 otherwise.
    - botocore's standard retry mode, `max_attempts` attempts per request, the first one
      included: that is botocore's `total_max_attempts` (its `max_attempts` counts retries
      only, so it would make one request more than S3_MAX_ATTEMPTS says).
    - Path-style addresses for a custom endpoint (a server on loopback has no per-bucket host
      names); virtual-hosted ones on AWS, at the region's endpoint (botocore still uses a path
      for a bucket name that cannot be a host name). "auto", botocore's default, addresses
      requests the same way but presigns at the legacy global endpoint.
    """
    return Config(
        signature_version="s3v4",
        retries={"mode": "standard", "total_max_attempts": max_attempts},
        s3={"addressing_style": "path" if endpoint_url else "virtual"},
        max_pool_connections=32,
    )


@functools.cache
def _data_loader():
    """botocore's loader of service models (read-only JSON, cached inside it), shared by every
    session: a new session would otherwise read and parse the S3 model again (about 50 ms and
    13 MB each time)."""
    return botocore.session.Session().get_component("data_loader")


def sharing_models(session: botocore.session.Session) -> botocore.session.Session:
    """`session`, made to use the shared loader of service models."""
    with _building:
        session.register_component("data_loader", _data_loader())
    return session


@functools.cache
def _session_client(endpoint_url: str | None, region: str, max_attempts: int):
    return new_session().client(
        "s3",
        endpoint_url=endpoint_url,
        region_name=region,
        config=config(endpoint_url, max_attempts),
    )


def new_session() -> boto3.session.Session:
    """A boto3 session of its own (credentials resolved afresh) on the shared service models."""
    return boto3.session.Session(botocore_session=sharing_models(botocore.session.Session()))


def client():
    """A shared, thread-safe S3 client built from settings, once per process."""
    with _building:
        return _session_client(
            settings.AWS_ENDPOINT_URL, settings.AWS_REGION, settings.S3_MAX_ATTEMPTS
        )


@functools.cache
def _probe_client(endpoint_url: str | None, region: str):
    return new_session().client(
        "s3",
        endpoint_url=endpoint_url,
        region_name=region,
        config=config(endpoint_url, 1).merge(Config(connect_timeout=2, read_timeout=3)),
    )


def probe_client():
    """A client like `client()` that tries once and gives up within seconds: a health probe
    must answer before the load balancer's own timeout, not retry for a minute."""
    with _building:
        return _probe_client(settings.AWS_ENDPOINT_URL, settings.AWS_REGION)


def client_for_credentials(access_key: str, secret_key: str, session_token: str, region: str):
    """An S3 client like `client()` (endpoint, SigV4, retries) signing with these credentials,
    e.g. the temporary ones ICAv2 hands out for a folder. Build one per set of credentials and
    share it between threads."""
    return new_session().client(
        "s3",
        endpoint_url=settings.AWS_ENDPOINT_URL,
        region_name=region,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        aws_session_token=session_token,
        config=config(settings.AWS_ENDPOINT_URL, settings.S3_MAX_ATTEMPTS),
    )
