"""Per-user throttling of the API: API_THROTTLE_RATE requests per user, then 429 with
Retry-After.

The count lives in Django's `default` cache, a LocMemCache (settings.CACHES), which each
process keeps for itself: with W gunicorn workers a user gets up to W times the rate
(each worker counts its own share), and a restart forgets the counts. A shared cache (the
database's or Redis) set as `default` makes the rate exact across workers and hosts.
"""

from __future__ import annotations

from django.conf import settings
from rest_framework.throttling import UserRateThrottle


class ApiUserThrottle(UserRateThrottle):
    """DRF's per-user throttle (anonymous requests by address), its rate read from settings at
    each request rather than once at import, so that a test or a settings change applies; a
    rate of None (API_THROTTLE_RATE=off) lets every request through."""

    scope = "user"

    def get_rate(self) -> str | None:
        return settings.API_THROTTLE_RATE
