"""Presigned GET links, and the true time they die."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import botocore.session
from django.conf import settings

from sharing_project.s3.client import config, sharing_models
from sharing_project.s3.uris import parse_s3_uri


@dataclass(frozen=True)
class Presigner:
    """Signs GET URLs that all die at `expires_at`, the true expiry: the requested lifetime,
    cut short when the signing credentials are temporary and die first."""

    client: object
    expires_at: datetime
    warning: str = ""

    @property
    def expires_in(self) -> int:
        return max(1, int((self.expires_at - datetime.now(UTC)).total_seconds()))

    def url(self, uri: str) -> str:
        return self.urls([uri])[0]

    def urls(self, uris: list[str]) -> list[str]:
        """Many links at once: the lifetime left is read once per thousand, not per link."""
        signed = []
        for start in range(0, len(uris), 1000):
            expires_in = self.expires_in
            for uri in uris[start : start + 1000]:
                target = parse_s3_uri(uri)
                signed.append(
                    self.client.generate_presigned_url(
                        "get_object",
                        Params={"Bucket": target.bucket, "Key": target.key},
                        ExpiresIn=expires_in,
                    )
                )
        return signed


def presigner(lifetime_seconds: int) -> Presigner:
    """A signer on PRESIGN_AWS_PROFILE (a dedicated identity for week-long links) or the
    default credentials, frozen now so that every URL is signed by the same credentials.
    A new session each time, so that credentials are resolved afresh (profiles, the
    environment); only the service models are shared."""
    lifetime_seconds = min(lifetime_seconds, settings.PRESIGNED_URL_MAX_LIFETIME_SECONDS)
    session = sharing_models(botocore.session.Session(profile=settings.PRESIGN_AWS_PROFILE))
    credentials = session.get_credentials()
    if credentials is None:
        raise RuntimeError("No AWS credentials to sign download links with.")
    frozen = credentials.get_frozen_credentials()  # refreshes them first when near expiry
    now = datetime.now(UTC)
    expires_at = now + timedelta(seconds=lifetime_seconds)
    warning = ""
    # botocore keeps the expiry of refreshable credentials (assumed roles, SSO, containers,
    # credential_process) in this attribute; there is no public accessor.
    credentials_expiry = getattr(credentials, "_expiry_time", None)
    if credentials_expiry is not None and credentials_expiry < expires_at:
        expires_at = credentials_expiry.astimezone(UTC)
        warning = (
            f"The signing credentials expire at {expires_at:%Y-%m-%d %H:%M} UTC, before the "
            f"{lifetime_seconds // 3600} h asked for: the links die with them. Set "
            "PRESIGN_AWS_PROFILE to a dedicated signing identity for week-long links."
        )
    elif credentials_expiry is None and frozen.token:
        assumed = now + timedelta(seconds=settings.TEMPORARY_CREDENTIALS_LIFETIME_SECONDS)
        if assumed < expires_at:
            expires_at = assumed
            warning = (
                "The signing credentials are temporary (a session token) with no known expiry; "
                f"the links are taken to last until {expires_at:%Y-%m-%d %H:%M} UTC. Set "
                "PRESIGN_AWS_PROFILE to a dedicated signing identity for week-long links."
            )
    signing_client = session.create_client(
        "s3",
        endpoint_url=settings.AWS_ENDPOINT_URL,
        region_name=settings.AWS_REGION,
        aws_access_key_id=frozen.access_key,
        aws_secret_access_key=frozen.secret_key,
        aws_session_token=frozen.token,
        config=config(settings.AWS_ENDPOINT_URL, settings.S3_MAX_ATTEMPTS),
    )
    return Presigner(signing_client, expires_at.replace(microsecond=0), warning)


_fresh_lock = threading.Lock()
_fresh: Presigner | None = None


def fresh_url(uri: str) -> str:
    """A GET URL for `uri` that lives between half and all of SHARE_LINK_REDIRECT_SECONDS: what
    a share link answers each request with. One signer per process, made again when half its
    lifetime has passed (a signer costs a session; a URL costs microseconds)."""
    global _fresh
    lifetime = settings.SHARE_LINK_REDIRECT_SECONDS
    with _fresh_lock:
        if _fresh is None or _fresh.expires_in < lifetime // 2:
            _fresh = presigner(lifetime)
        signer = _fresh
    return signer.url(uri)
