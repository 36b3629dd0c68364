"""Starting and stopping the small HTTP servers the tests run on loopback."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def serve(handler: type[BaseHTTPRequestHandler]) -> ThreadingHTTPServer:
    """A threaded server on 127.0.0.1 and a free port, serving from a daemon thread."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    # shut_down() waits for the serving loop's next poll: 0.5 s by default, in every test.
    serve_forever = {"poll_interval": 0.02}
    threading.Thread(target=server.serve_forever, kwargs=serve_forever, daemon=True).start()
    return server


def shut_down(server: ThreadingHTTPServer) -> None:
    server.shutdown()
    server.server_close()
