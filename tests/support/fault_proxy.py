"""A fault-injecting HTTP/1.1 proxy on loopback, to sit between a boto3 client and the moto S3
server and show that S3 calls survive throttling and dropped connections, and that the
service's checksums catch bytes changed on the way.

Besides throttling and resets it can corrupt data in two ways: `swap_copy_source` makes S3
copy other bytes than asked (a CopyObject or UploadPartCopy of `bucket/key` copies a decoy
instead: the destination receives one byte flipped), and `flip_byte_of` flips the first byte
of every response body to a GET of that path (the reader receives one byte flipped).

`hold_path_ending` makes it a gate: the first request whose path ends so is held before it is
forwarded, `held` is set, and the request goes on once the test sets `release`; a test can then
change the world at a known point of a client's run, with no timing.

Faults are chosen deterministically by counting the requests they may apply to (those whose
method is in `only_methods`, or all): the Nth such request is reset when `reset_every` divides N,
else answered `503 SlowDown` when `slowdown_every` divides N, else forwarded. A fault always
comes after the whole request (body included) has been read, and is never seen by the upstream.

Bodies, request and response, are relayed as raw bytes: a chunked or aws-chunked body is
forwarded with its framing unchanged. `Expect: 100-continue` is answered by the proxy itself.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from dataclasses import dataclass, field
from types import TracebackType
from urllib.parse import quote, unquote, urlsplit

SLOWDOWN_BODY = (
    b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code>'
    b"<Message>Please reduce your request rate.</Message>"
    b"<RequestId>fault-proxy</RequestId></Error>"
)
_HEAD_LIMIT = 64 * 1024
# Not relayed: hop-by-hop headers, which describe one connection, and Expect, answered here.
_HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-connection", "te", "upgrade", "expect"})


class _BadMessage(Exception):
    """A malformed or truncated HTTP message."""


class _Stream:
    """Buffered reads from a socket, by line, by length, up to a blank line or to EOF."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._buffer = bytearray()

    def _fill(self) -> bool:
        data = self._sock.recv(65536)
        self._buffer += data
        return bool(data)

    def _take(self, count: int) -> bytes:
        data = bytes(self._buffer[:count])
        del self._buffer[:count]
        return data

    def read_head(self) -> bytes | None:
        """A message's start line and headers, through the blank line; None on a clean EOF."""
        while True:
            while self._buffer.startswith(b"\r\n"):  # RFC 9112: ignore CRLFs before a request
                del self._buffer[:2]
            end = self._buffer.find(b"\r\n\r\n")
            if end >= 0:
                return self._take(end + 4)
            if len(self._buffer) > _HEAD_LIMIT:
                raise _BadMessage("headers too large")
            if not self._fill():
                if self._buffer:
                    raise _BadMessage("connection closed inside the headers")
                return None

    def read_line(self) -> bytes:
        while (end := self._buffer.find(b"\n")) < 0:
            if len(self._buffer) > _HEAD_LIMIT:
                raise _BadMessage("line too long")
            if not self._fill():
                raise _BadMessage("connection closed inside a line")
        return self._take(end + 1)

    def read_exact(self, count: int) -> bytes:
        while len(self._buffer) < count:
            if not self._fill():
                raise _BadMessage("connection closed inside a body")
        return self._take(count)

    def read_to_eof(self) -> bytes:
        while self._fill():
            pass
        return self._take(len(self._buffer))

    def read_chunked(self) -> bytes:
        """A chunked body, raw: chunk-size lines, data and trailers exactly as received."""
        raw = bytearray()
        while True:
            line = self.read_line()
            raw += line
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError as error:
                raise _BadMessage(f"bad chunk size {line!r}") from error
            if size == 0:
                while True:  # trailers (aws-chunked checksums travel here), then a blank line
                    trailer = self.read_line()
                    raw += trailer
                    if trailer in (b"\r\n", b"\n"):
                        return bytes(raw)
            raw += self.read_exact(size + 2)


@dataclass
class _Message:
    """A parsed start line and headers (names as sent, in order)."""

    start: str
    headers: list[tuple[str, str]] = field(default_factory=list)

    @classmethod
    def parse(cls, head: bytes) -> _Message:
        lines = head.decode("latin-1").split("\r\n")
        message = cls(lines[0])
        for line in lines[1:]:
            if not line:
                continue
            name, colon, value = line.partition(":")
            if not colon or not name or name != name.strip():
                raise _BadMessage(f"bad header line {line!r}")
            message.headers.append((name, value.strip()))
        return message

    def get(self, name: str) -> str | None:
        values = [value for key, value in self.headers if key.lower() == name.lower()]
        return ", ".join(values) if values else None

    def tokens(self, name: str) -> set[str]:
        return {token.strip().lower() for token in (self.get(name) or "").split(",")} - {""}

    def chunked(self) -> bool:
        return "chunked" in self.tokens("Transfer-Encoding")

    def content_length(self) -> int | None:
        value = self.get("Content-Length")
        if value is None:
            return None
        lengths = {part.strip() for part in value.split(",")}
        if len(lengths) != 1 or not (length := lengths.pop()).isdigit():
            raise _BadMessage(f"bad Content-Length {value!r}")
        return int(length)

    def encode(self, extra: tuple[tuple[str, str], ...] = ()) -> bytes:
        """The start line and end-to-end headers (hop-by-hop ones dropped), plus `extra`."""
        dropped = _HOP_BY_HOP | self.tokens("Connection")
        if self.chunked():
            dropped = dropped | {"content-length"}  # chunked framing wins (RFC 9112 6.3)
        kept = [(key, value) for key, value in self.headers if key.lower() not in dropped]
        lines = [self.start, *(f"{key}: {value}" for key, value in [*kept, *extra])]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


class FaultProxy:
    """A threaded HTTP/1.1 proxy on 127.0.0.1 that throttles or resets every Nth request.

    `slowdown_every=N` answers every Nth eligible request `503 SlowDown` (as S3 does when
    throttling); `reset_every=N` resets the connection (TCP RST) after reading every Nth eligible
    request; 0 disables either. `only_methods` limits faults to those HTTP methods (others are
    always forwarded). Counters: `requests` (complete requests read), `slowdowns`, `resets`,
    `forwarded` (answered by the upstream) and `copies` (the forwarded copy requests); `errors` lists unexpected failures.
    """

    def __init__(
        self,
        upstream: str,
        *,
        slowdown_every: int = 0,
        reset_every: int = 0,
        only_methods: tuple[str, ...] | None = None,
        timeout: float = 60.0,
        swap_copy_source: dict[str, str] | None = None,
        flip_byte_of: str | None = None,
        hold_path_ending: str | None = None,
    ) -> None:
        parts = urlsplit(upstream)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"upstream must be an http:// URL, not {upstream!r}")
        if slowdown_every < 0 or reset_every < 0:
            raise ValueError("slowdown_every and reset_every must be 0 (off) or positive")
        self.upstream = (parts.hostname, parts.port or 80)
        self.slowdown_every = slowdown_every
        self.reset_every = reset_every
        self.only_methods = (
            None if only_methods is None else frozenset(m.upper() for m in only_methods)
        )
        self.timeout = timeout
        # "bucket/key" -> "bucket/decoy": copies of the first copy the second.
        self.swap_copy_source = dict(swap_copy_source or {})
        self.flip_byte_of = flip_byte_of  # "/bucket/key": GETs of it get one byte flipped
        self.corrupted = 0  # requests whose bytes were changed
        self.hold_path_ending = hold_path_ending
        self.held = threading.Event()  # the request to hold has arrived, and waits
        self.release = threading.Event()  # set by the test: the held request goes on
        self.errors: list[str] = []
        self._lock = threading.Lock()
        self._counts = {
            "requests": 0,
            "eligible": 0,
            "slowdowns": 0,
            "resets": 0,
            "forwarded": 0,
            "copies": 0,
        }
        self._stopping = threading.Event()
        self._listener: socket.socket | None = None
        self._acceptor: threading.Thread | None = None
        self._threads: set[threading.Thread] = set()
        self._sockets: set[socket.socket] = set()

    # --- counters ------------------------------------------------------------------------------
    def _count(self, name: str) -> int:
        with self._lock:
            return self._counts[name]

    @property
    def requests(self) -> int:
        return self._count("requests")

    @property
    def slowdowns(self) -> int:
        return self._count("slowdowns")

    @property
    def resets(self) -> int:
        return self._count("resets")

    @property
    def forwarded(self) -> int:
        return self._count("forwarded")

    @property
    def copies(self) -> int:
        """Copy requests (CopyObject, UploadPartCopy: a PUT with x-amz-copy-source) that the
        upstream answered."""
        return self._count("copies")

    def _bump(self, name: str) -> None:
        with self._lock:
            self._counts[name] += 1

    # --- lifecycle -----------------------------------------------------------------------------
    @property
    def endpoint(self) -> str:
        if self._listener is None:
            raise RuntimeError("the proxy is not started")
        host, port = self._listener.getsockname()[:2]
        return f"http://{host}:{port}"

    def start(self) -> FaultProxy:
        """Listen on a free loopback port and accept connections in a background thread."""
        if self._listener is not None:
            raise RuntimeError("the proxy is already started")
        self._listener = socket.create_server(("127.0.0.1", 0), backlog=64)
        self._listener.settimeout(0.1)  # so that the accept loop notices stop()
        self._acceptor = threading.Thread(target=self._accept, name="fault-proxy", daemon=True)
        self._acceptor.start()
        return self

    def stop(self) -> None:
        """Stop accepting, cut every open connection (client and upstream) and join threads."""
        self._stopping.set()
        self.release.set()  # a held request goes on (to a closed connection)
        if self._acceptor is not None:
            self._acceptor.join(timeout=5)
        if self._listener is not None:
            self._listener.close()
        with self._lock:
            sockets, threads = list(self._sockets), list(self._threads)
        for sock in sockets:
            # shutdown() wakes a thread blocked in recv(); the owning thread then closes it.
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        for thread in threads:
            thread.join(timeout=5)

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _track(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.add(sock)
        if self._stopping.is_set():  # stop() may have taken its list just before
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def _untrack(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.discard(sock)
        sock.close()

    def _accept(self) -> None:
        assert self._listener is not None
        while not self._stopping.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return  # the listener was closed
            conn.settimeout(self.timeout)
            self._track(conn)
            thread = threading.Thread(
                target=self._serve, args=(conn,), name="fault-proxy-conn", daemon=True
            )
            with self._lock:
                self._threads = {t for t in self._threads if t.is_alive()} | {thread}
            thread.start()

    # --- one client connection -----------------------------------------------------------------
    def _fault_for(self, method: str) -> str | None:
        """Count the request; "reset", "slowdown" or None (forward) for it."""
        with self._lock:
            self._counts["requests"] += 1
            if self.only_methods is not None and method not in self.only_methods:
                return None
            self._counts["eligible"] += 1
            number = self._counts["eligible"]
            if self.reset_every and number % self.reset_every == 0:
                self._counts["resets"] += 1
                return "reset"
            if self.slowdown_every and number % self.slowdown_every == 0:
                self._counts["slowdowns"] += 1
                return "slowdown"
            return None

    def _serve(self, conn: socket.socket) -> None:
        stream = _Stream(conn)
        try:
            while not self._stopping.is_set():
                head = stream.read_head()
                if head is None:
                    return  # the client closed its idle connection
                request = _Message.parse(head)
                method, _, version = _request_line(request.start)
                keep_alive = version == "HTTP/1.1" and "close" not in request.tokens("Connection")
                chunked, length = request.chunked(), request.content_length()
                has_body = chunked or bool(length)
                if has_body and "100-continue" in request.tokens("Expect"):
                    conn.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
                body = stream.read_chunked() if chunked else stream.read_exact(length or 0)
                self._hold(request)
                fault = self._fault_for(method)
                if fault == "reset":
                    _reset(conn)
                    return
                if fault == "slowdown":
                    conn.sendall(_slowdown(method, keep_alive))
                else:
                    keep_alive = self._forward(conn, request, method, body, keep_alive)
                if not keep_alive:
                    return
        except _BadMessage as error:
            self._record(f"bad request: {error}")
            with contextlib.suppress(OSError):
                conn.sendall(_plain(400, "Bad Request", str(error)))
        except OSError:
            pass  # the client went away (or stop() cut the connection)
        except Exception as error:
            self._record(f"{type(error).__name__}: {error}")
        finally:
            self._untrack(conn)

    def _forward(
        self, conn: socket.socket, request: _Message, method: str, body: bytes, keep_alive: bool
    ) -> bool:
        """Relay one request upstream (on its own connection) and its response back.

        Returns whether the client connection can carry another request.
        """
        request = self._swapped(request)
        try:
            response, response_body, framed = self._exchange(
                request.encode((("Connection", "close"),)) + body, method
            )
        except (OSError, _BadMessage) as error:
            if not self._stopping.is_set():
                self._record(f"upstream: {type(error).__name__}: {error}")
            conn.sendall(_plain(502, "Bad Gateway", f"upstream failed: {error}"))
            return False
        self._bump("forwarded")
        if request.get("x-amz-copy-source") is not None:
            self._bump("copies")
        flip = method == "GET" and response_body and not response.chunked()
        if flip and self._path(request) == self.flip_byte_of:
            response_body = bytes([response_body[0] ^ 1]) + response_body[1:]
            self._bump_corrupted()
        # The upstream's own Connection header is about its connection, which ends anyway.
        keep_alive = keep_alive and framed
        extra = () if keep_alive else (("Connection", "close"),)
        conn.sendall(response.encode(extra) + response_body)
        return keep_alive

    def _hold(self, request: _Message) -> None:
        """Wait for `release` if this is the first request to hold."""
        ending = self.hold_path_ending
        if ending is None or not self._path(request).endswith(ending):
            return
        with self._lock:
            if self.held.is_set():
                return
            self.held.set()
        if not self.release.wait(self.timeout):
            self._record(f"the request to {ending} was never released")

    def _swapped(self, request: _Message) -> _Message:
        """The request, copying the decoy where its copy source is one to swap."""
        source = unquote(request.get("x-amz-copy-source") or "").lstrip("/")
        decoy = self.swap_copy_source.get(source)
        if decoy is None:
            return request
        self._bump_corrupted()
        headers = [
            (name, quote(decoy) if name.lower() == "x-amz-copy-source" else value)
            for name, value in request.headers
        ]
        return _Message(request.start, headers)

    @staticmethod
    def _path(request: _Message) -> str:
        return unquote(urlsplit(_request_line(request.start)[1]).path)

    def _bump_corrupted(self) -> None:
        with self._lock:
            self.corrupted += 1

    def _exchange(self, data: bytes, method: str) -> tuple[_Message, bytes, bool]:
        """Send a request upstream; the final response, its raw body and whether it is framed
        (delimited by length or chunks rather than by the end of the connection)."""
        upstream = socket.create_connection(self.upstream, timeout=self.timeout)
        self._track(upstream)
        try:
            upstream.sendall(data)
            stream = _Stream(upstream)
            while True:
                head = stream.read_head()
                if head is None:
                    raise _BadMessage("the upstream closed without answering")
                response = _Message.parse(head)
                status = _status(response.start)
                if not (100 <= status < 200):
                    break  # 1xx answers (100 Continue) are interim: skip them
            if method == "HEAD" or status in (204, 304):
                return response, b"", True
            if response.chunked():
                return response, stream.read_chunked(), True
            length = response.content_length()
            if length is not None:
                return response, stream.read_exact(length), True
            return response, stream.read_to_eof(), False
        finally:
            self._untrack(upstream)

    def _record(self, message: str) -> None:
        with self._lock:
            self.errors.append(message)


def _request_line(line: str) -> tuple[str, str, str]:
    parts = line.split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise _BadMessage(f"bad request line {line!r}")
    return parts[0].upper(), parts[1], parts[2]


def _status(line: str) -> int:
    parts = line.split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        raise _BadMessage(f"bad status line {line!r}")
    return int(parts[1])


def _reset(conn: socket.socket) -> None:
    """Close with SO_LINGER 0: the kernel sends RST, so the client sees a connection reset."""
    with contextlib.suppress(OSError):
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()


def _slowdown(method: str, keep_alive: bool) -> bytes:
    """S3's throttling answer; a HEAD answer has the headers and no body."""
    lines = [
        "HTTP/1.1 503 Slow Down",
        "Content-Type: application/xml",
        f"Content-Length: {len(SLOWDOWN_BODY)}",
        "x-amz-request-id: fault-proxy",
    ]
    if not keep_alive:
        lines.append("Connection: close")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("ascii")
    return head if method == "HEAD" else head + SLOWDOWN_BODY


def _plain(status: int, reason: str, text: str) -> bytes:
    body = text.encode("utf-8", "replace")
    head = (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode("ascii") + body
