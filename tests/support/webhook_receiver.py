"""A webhook receiver on loopback, as a collaborator's service would run one: it checks each
delivery's signature with the hook's secret (refusing a bad one with 401), answers with the
statuses a test scripts (then 200), and records what it got and when."""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.support.serving import serve, shut_down


def verify(secret: str, body: bytes, signature_header: str) -> bool:
    """What a receiver does with X-DSM-Signature (docs/notifications.md shows these lines)."""
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature_header or "")


@dataclass(frozen=True)
class Got:
    path: str
    headers: dict[str, str]
    body: bytes
    signature_valid: bool
    at: float  # time.monotonic()
    answered: int


@dataclass
class WebhookReceiver:
    secret: str = ""
    answers: list[int] = field(default_factory=list)  # answered in turn, then 200 for good
    delay: float = 0.0  # seconds to wait before answering (a slow receiver)
    got: list[Got] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None

    def url(self, path: str = "/hooks/dsm") -> str:
        host, port = self._server.server_address
        return f"http://{host}:{port}{path}"

    def start(self) -> WebhookReceiver:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                """Quiet: the tests read what the receiver recorded."""

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                valid = verify(owner.secret, body, self.headers.get("X-DSM-Signature", ""))
                status = (owner.answers.pop(0) if owner.answers else 200) if valid else 401
                owner.got.append(
                    Got(self.path, dict(self.headers), body, valid, time.monotonic(), status)
                )
                answer = b"ok" if status < 300 else b"no"
                time.sleep(owner.delay)
                self.send_response(status)
                if 300 <= status < 400:
                    self.send_header("Location", "/moved-elsewhere")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

        self._server = serve(Handler)
        return self

    def stop(self) -> None:
        shut_down(self._server)
