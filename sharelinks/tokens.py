"""Share tokens: derived, never stored; found by their hash in constant time.

A token is base64url(HMAC-SHA256(SHARE_TOKEN_SECRET, "<link id>:<salt>")), 43 characters. The
database holds the salt and the token's SHA-256; with the database alone no token can be
rebuilt, and the service rebuilds one only to show it to operators (`ShareLink.token`).

Finding the link a presented token names costs the same whatever the token: whatever it is
(empty, malformed, too long, guessed or good), it is hashed and looked up once by that hash,
and the stored hash compared with `hmac.compare_digest`; the answer for an unknown token says
nothing about any other.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from django.conf import settings

from sharelinks.models import ShareLink

TOKEN_LENGTH = 43
MAX_PRESENTED = 200  # a longer token is cut, never rejected early (same cost either way)


def derive_token(link_id, salt: str) -> str:
    mac = hmac.new(
        settings.SHARE_TOKEN_SECRET.encode(), f"{link_id}:{salt}".encode(), hashlib.sha256
    ).digest()
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


def new_salt() -> str:
    return secrets.token_hex(32)


def find_link(presented: str) -> ShareLink | None:
    """The share link whose token is `presented`, or None."""
    digest = token_hash(presented[:MAX_PRESENTED])
    link = ShareLink.objects.select_related("job").filter(token_hash=digest).first()
    stored = link.token_hash if link is not None else "0" * 64
    if not hmac.compare_digest(stored, digest) or link is None:
        return None
    return link
