"""Scraping /metrics as Prometheus does, and reading the samples back."""

from __future__ import annotations

from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

TOKEN = "a-metrics-token-for-tests-only"

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(client: Client, token: str = TOKEN) -> Samples:
    """Every sample of one scrape, by (name, sorted labels)."""
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
    }
