"""Small HTTP servers on loopback that a test writes itself: a receiver that answers in a
set way, a proxy that records, a Dfns stand-in whose pages never end. The emulator is
the Dfns of the tests; these are for what it must not do."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class QuietHandler(BaseHTTPRequestHandler):
    """A handler that prints nothing to the test's stderr and answers in one call."""

    def log_message(self, format: str, *args: object) -> None:
        pass

    def read_body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def answer(self, status: int, body: bytes = b"", content_type: str | None = None) -> None:
        self.send_response(status)
        if content_type is not None:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def url_of(server: ThreadingHTTPServer, scheme: str = "http") -> str:
    return f"{scheme}://127.0.0.1:{server.server_address[1]}"


def start(
    handler: type[BaseHTTPRequestHandler],
    wrap: Callable[[socket.socket], socket.socket] | None = None,
) -> ThreadingHTTPServer:
    """Serve `handler` on a free loopback port from a daemon thread (`wrap`: e.g. TLS)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    if wrap is not None:
        server.socket = wrap(server.socket)
    return start_serving(server)


def start_serving(server: ThreadingHTTPServer) -> ThreadingHTTPServer:
    """Serve an already bound server (a subclass keeping its own state) from a daemon
    thread; `stop` ends it."""
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def stop(server: ThreadingHTTPServer) -> None:
    server.shutdown()
    server.server_close()


@contextmanager
def serving(
    handler: type[BaseHTTPRequestHandler],
    wrap: Callable[[socket.socket], socket.socket] | None = None,
) -> Iterator[ThreadingHTTPServer]:
    server = start(handler, wrap)
    try:
        yield server
    finally:
        stop(server)
