"""The clients of `make bench-load` (bench/load.py starts locust on this file): each reads one
job's status and pages of its objects, the first, the middle and the last, asked by position
as the `next` links do. bench/load.py passes the job and the token in the environment."""

from __future__ import annotations

import os

from locust import FastHttpUser, between, constant, task

JOB = os.environ["BENCH_JOB_ID"]
OBJECTS = int(os.environ["BENCH_OBJECTS"])
PAGE = 100
# Seconds a client waits between two requests: "0.5-1.5" (a polling client) or "0" (flat out).
WAIT = [float(part) for part in os.environ.get("BENCH_WAIT", "0").split("-")]


class Reader(FastHttpUser):
    wait_time = between(*WAIT) if len(WAIT) == 2 else constant(WAIT[0])
    default_headers = {
        "Authorization": f"Token {os.environ['BENCH_TOKEN']}",
        "Accept": "application/json",
    }

    @task
    def status(self) -> None:
        self.client.get(f"/api/v1/jobs/{JOB}", name="job status")

    @task
    def first_page(self) -> None:
        self.client.get(f"/api/v1/jobs/{JOB}/objects?pageSize={PAGE}", name="objects: first page")

    @task
    def middle_page(self) -> None:
        self.client.get(
            f"/api/v1/jobs/{JOB}/objects?pageSize={PAGE}&after={OBJECTS // 2}",
            name="objects: middle page",
        )

    @task
    def last_page(self) -> None:
        self.client.get(
            f"/api/v1/jobs/{JOB}/objects?pageSize={PAGE}&after={OBJECTS - PAGE - 1}",
            name="objects: last page",
        )
