"""/healthz, /readyz and /metrics: thin views over ops.health and ops.metrics.

/healthz and /readyz are open (load balancers and orchestrators call them without
credentials) and name states only; /metrics needs METRICS_TOKEN as a bearer token.
"""

from __future__ import annotations

import asyncio
import hmac

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from health_check.checks import Database
from health_check.views import HealthCheckView
from prometheus_client import CONTENT_TYPE_LATEST

from ops.health import Queue, SharingBucket, Workers
from ops.metrics import exposition

# What /readyz reports, by the name its JSON body gives each.
READINESS_CHECKS = {"database": Database, "s3": SharingBucket, "queue": Queue, "workers": Workers}


@never_cache
@require_GET
def healthz(request: HttpRequest) -> HttpResponse:
    """The process is up and serving requests; nothing else is touched."""
    return JsonResponse({"status": "ok"})


class ReadyView(HealthCheckView):
    """django-health-check's view, answering in JSON whatever the Accept header, with 503 (not
    the library's 500) when a component is down, as load balancers expect of readiness:

        {"status": "ok" | "unavailable",
         "checks": {"database": {"ok": true, "state": "OK"}, "s3": {...}, ...}}
    """

    checks = tuple(READINESS_CHECKS.values())
    http_method_names = ["get"]

    async def get(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        with self.get_executor() as executor:
            results = await asyncio.gather(
                *(check.get_result(executor) for check in self.get_checks())
            )
        components = {
            name: {
                "ok": result.error is None,
                "state": str(result.error) if result.error else result.check.pretty_status(),
            }
            for name, result in zip(READINESS_CHECKS, results, strict=True)
        }
        ready = all(component["ok"] for component in components.values())
        return JsonResponse(
            {"status": "ok" if ready else "unavailable", "checks": components},
            status=200 if ready else 503,
        )


def bearer_token_matches(header: str, token: str) -> bool:
    """`Authorization: Bearer <token>`, compared in constant time."""
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode(), token.encode())


@never_cache
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus' scrape. 404 while METRICS_TOKEN is unset (the endpoint is off); 401 without
    the token or with another one."""
    token = settings.METRICS_TOKEN
    if not token:
        return HttpResponse(
            "Metrics are off: set METRICS_TOKEN to turn /metrics on (docs/operations.md).\n",
            status=404,
            content_type="text/plain",
        )
    if not bearer_token_matches(request.headers.get("Authorization", ""), token):
        response = HttpResponse(
            "Send the metrics token: Authorization: Bearer <METRICS_TOKEN>.\n",
            status=401,
            content_type="text/plain",
        )
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(exposition(), content_type=CONTENT_TYPE_LATEST)
