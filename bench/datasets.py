"""The two data sets: many small objects and a few large ones, uploaded in parallel."""

from __future__ import annotations

import hashlib
import os
import random
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

BUCKET = "dsm-bench"
KIB = 1024
MIB = 1024 * 1024


@dataclass(frozen=True)
class DataObject:
    relative_path: str  # below the data set's prefix
    size: int
    md5: str
    etag: str


@dataclass
class DataSet:
    name: str
    description: str
    prefix: str  # "small/": keys are prefix + relative path
    objects: list[DataObject] = field(default_factory=list)
    samples: dict[str, bytes] = field(default_factory=dict)  # relative path -> content

    @property
    def total_bytes(self) -> int:
        return sum(item.size for item in self.objects)

    def uri(self, item: DataObject) -> str:
        return f"s3://{BUCKET}/{self.prefix}{item.relative_path}"


def small_set(count: int, size: int = 4 * KIB, folders: int = 20) -> DataSet:
    """Set A: `count` objects of `size` random bytes over `folders` folders."""
    data = DataSet("A", f"{count:,} x {size // KIB} KiB", "small/")
    paths = [f"dir-{i % folders:02d}/file-{i:04d}.bin" for i in range(count)]
    bodies = [os.urandom(size) for _ in paths]
    _upload(data, paths, bodies.__getitem__, workers=16)
    every = max(1, count // 100)  # about 100 files whose bytes are compared after each run
    data.samples = {paths[i]: bodies[i] for i in range(0, count, every)}
    return data


def large_set(count: int, size: int) -> DataSet:
    """Set B: `count` objects of `size` pseudo-random bytes, made in the uploading thread."""
    data = DataSet("B", f"{count:,} x {size // MIB} MiB", "large/")
    paths = [f"file-{i}.bin" for i in range(count)]
    _upload(data, paths, lambda i: random.Random(i).randbytes(size), workers=4)
    return data


def _upload(data: DataSet, paths: list[str], body: Callable[[int], bytes], workers: int) -> None:
    """PUT every object (one request each, so that its ETag is its MD5) from a thread pool."""
    from sharing_project.s3.client import client as s3_client
    from sharing_project.s3.objects import ensure_bucket

    client = s3_client()
    ensure_bucket(BUCKET)

    def put(index: int) -> DataObject:
        content = body(index)
        md5 = hashlib.md5(content).hexdigest()
        response = client.put_object(Bucket=BUCKET, Key=data.prefix + paths[index], Body=content)
        etag = response["ETag"].strip('"')
        if etag != md5:
            raise RuntimeError(f"{paths[index]}: ETag {etag} is not the MD5 {md5}")
        return DataObject(paths[index], len(content), md5, etag)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        data.objects = list(pool.map(put, range(len(paths))))
