"""`python -m bench.moto_preloaded PORT BUCKET N [N ...]`: moto's S3 server with the outputs of
`seed_scale`'s big runs of N objects (catalogue.scale's keys and bodies) put straight into its
store before it serves.

Writing 300,000 objects through moto's HTTP API takes most of an hour on this machine; its own
store takes a minute. The scale benchmark measures listing and copying them, never this.

It counts the S3 requests it serves: `GET /_bench/requests` answers their number so far (the
benchmark reads it before and after a step, for its requests per object).
"""

from __future__ import annotations

import os
import sys
import threading

from moto.core import DEFAULT_ACCOUNT_ID
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from moto.s3.models import s3_backends
from werkzeug.serving import make_server

REGION = "ap-southeast-2"


def preload(bucket: str, sizes: list[int]) -> int:
    import django

    django.setup()
    from catalogue.scale import big_run_objects
    from sharing_project.s3.uris import parse_s3_uri

    backend = s3_backends[DEFAULT_ACCOUNT_ID]["aws"]
    backend.create_bucket(bucket, REGION)
    count = 0
    for size in sizes:
        for item in big_run_objects(bucket, size):
            backend.put_object(bucket, parse_s3_uri(item.uri).key, item.body)
            count += 1
    return count


class CountingRequests:
    """moto's WSGI application, counting the requests it serves (but its own and ours)."""

    def __init__(self, app):
        self.app = app
        self.lock = threading.Lock()
        self.total = 0

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path == "/_bench/requests":
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [str(self.total).encode()]
        if not path.startswith("/moto-api"):
            with self.lock:
                self.total += 1
        return self.app(environ, start_response)


def main(argv: list[str]) -> int:
    port, bucket, *sizes = argv
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sharing_project.settings")
    os.environ.setdefault("SECRET_KEY", "bench-only")
    count = preload(bucket, [int(size) for size in sizes])
    print(f"preloaded {count} objects into {bucket}", flush=True)
    app = CountingRequests(DomainDispatcherApplication(create_backend_app))
    server = make_server(
        "127.0.0.1", int(port), app, threaded=True, request_handler=MotoRequestHandler
    )
    server.serve_forever()  # until terminated
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
