"""Presigning speed: the project's Presigner against a plain, reused boto3 client."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import boto3
from botocore.config import Config

from bench.datasets import BUCKET
from bench.download import machine_cpu


@dataclass
class PresignTiming:
    name: str
    count: int
    runs: list[float] = field(default_factory=list)
    others: list[float] = field(default_factory=list)  # CPU s of other processes meanwhile

    @property
    def best(self) -> float:
        return min(self.runs)

    @property
    def per_second(self) -> float:
        return self.count / self.best


@dataclass
class PresignResults:
    project: list[PresignTiming]  # Presigner.url in a loop, then Presigner.urls if it exists
    plain: PresignTiming
    setup: float  # seconds for presigner(3600) and its first URL


def keys(count: int) -> list[str]:
    return [f"presign/dir-{i % 100:02d}/sample-{i:06d}.fastq.gz" for i in range(count)]


def time_presigning(count: int, repeat: int) -> PresignResults:
    """Best of `repeat` for each way of signing, the order rotating from run to run."""
    from django.conf import settings

    from sharing_project.s3.presign import Presigner, presigner

    names = keys(count)
    uris = [f"s3://{BUCKET}/{key}" for key in names]
    plain = boto3.session.Session().client(
        "s3",
        endpoint_url=settings.AWS_ENDPOINT_URL,
        region_name=settings.AWS_REGION,
        config=Config(signature_version="s3v4"),
    )
    plain.generate_presigned_url("get_object", Params={"Bucket": BUCKET, "Key": "warm-up"})
    setup: list[float] = []

    def new_signer():
        start = time.perf_counter()
        signer = presigner(3600)
        signer.url(f"s3://{BUCKET}/warm-up")  # the client's first URL loads botocore's models
        setup.append(time.perf_counter() - start)
        return signer

    def url_loop() -> None:
        signer = new_signer()
        with _timed(url_timing):
            for uri in uris:
                signer.url(uri)

    def urls_batch() -> None:
        signer = new_signer()
        with _timed(urls_timing):
            signed = signer.urls(uris)
        if len(signed) != len(uris):
            raise RuntimeError("Presigner.urls returned the wrong number of URLs")

    def boto3_plain() -> None:
        with _timed(plain_timing):
            for key in names:
                plain.generate_presigned_url(
                    "get_object", Params={"Bucket": BUCKET, "Key": key}, ExpiresIn=3600
                )

    url_timing = PresignTiming("Presigner: `presigner(3600).url(uri)` in a loop", count)
    urls_timing = PresignTiming("Presigner: `presigner(3600).urls(uris)`, one call", count)
    plain_timing = PresignTiming("boto3 `generate_presigned_url`, s3v4, reused client", count)
    measures: list[tuple[PresignTiming, Callable[[], None]]] = [
        (url_timing, url_loop),
        (plain_timing, boto3_plain),
    ]
    if hasattr(Presigner, "urls"):  # signing many links at once, where the project has it
        measures.insert(1, (urls_timing, urls_batch))
    for attempt in range(repeat):
        shift = attempt % len(measures)
        for _, measure in measures[shift:] + measures[:shift]:
            measure()
        print(
            f"  presign {count:,} URLs run {attempt + 1}: "
            + ", ".join(f"{t.name} {t.runs[-1]:.2f} s" for t, _ in measures),
            flush=True,
        )
    project = [timing for timing, _ in measures if timing is not plain_timing]
    return PresignResults(project, plain_timing, min(setup))


class _timed:
    """Adds the block's wall time, and the CPU other processes used meanwhile, to a timing."""

    def __init__(self, timing: PresignTiming) -> None:
        self.timing = timing

    def __enter__(self) -> None:
        self.machine, self.own = machine_cpu(), time.process_time()
        self.start = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        self.timing.runs.append(time.perf_counter() - self.start)
        others = machine_cpu() - self.machine - (time.process_time() - self.own)
        self.timing.others.append(max(0.0, others))
