"""A small HTTP file server on loopback for download-script tests that S3 on loopback cannot
stage: answering 403 (moto accepts tampered and expired links), serving wrong bytes, stalling
mid-file so that a download is really interrupted, and recording Range requests."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.support.serving import serve, shut_down


@dataclass
class Served:
    body: bytes
    status: int = 200
    stall_after: int | None = None  # first request: send this many bytes, then hang


@dataclass
class FileServer:
    files: dict[str, Served] = field(default_factory=dict)
    requests: list[tuple[str, str, int]] = field(default_factory=list)  # path, Range, client port
    _server: ThreadingHTTPServer | None = None

    def url(self, path: str) -> str:
        host, port = self._server.server_address
        return f"http://{host}:{port}{path}?X-Amz-Signature=test"

    def start(self) -> FileServer:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                """Quiet: the tests read what the server recorded, not its log."""

            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                wanted = self.headers.get("Range", "")
                owner.requests.append((path, wanted, self.client_address[1]))
                served = owner.files.get(path)
                if served is None or served.status != 200:
                    status = served.status if served else 404
                    body = b"<Error><Code>AccessDenied</Code></Error>"
                    self.send_response(status)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                start = int(wanted.removeprefix("bytes=").split("-")[0]) if wanted else 0
                body = served.body[start:]
                self.send_response(206 if wanted else 200)
                if wanted:
                    total = len(served.body)
                    self.send_header("Content-Range", f"bytes {start}-{total - 1}/{total}")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if served.stall_after is not None:
                    self.wfile.write(body[: served.stall_after])
                    self.wfile.flush()
                    served.stall_after = None
                    time.sleep(30)  # the client is killed meanwhile
                    return
                self.wfile.write(body)

        self._server = serve(Handler)
        return self

    def stop(self) -> None:
        shut_down(self._server)
