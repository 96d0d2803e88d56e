"""The emulator's HTTP server: sockets, keep-alive, framing, faults, the request log.

The control routes (`/_emulator/...`) are control.py; the first start's organisation,
service account and credentials.json are bootstrap.py.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import socket
import sys
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from .api import DfnsApi, Reply, Request
from .assumed import APPROVAL_BODY_KIND, Assumed
from .auth import Authority
from .bootstrap import bootstrap
from .clock import Clock, new_id
from .control import CONTROL_ROUTES
from .deliveries import Deliverer
from .errors import ApiFailure
from .store import Store
from .testkit import Fault, TestKit

CONTROL_PREFIX = "/_emulator/"
MAX_BODY = 1 << 20
_CONTENT_LENGTH = re.compile(r"[0-9]{1,9}")


@dataclass(frozen=True)
class EmulatorConfig:
    data_dir: Path
    host: str = "127.0.0.1"
    port: int = 0
    max_webhooks: int = 5
    key_type: str = "ed25519"
    rate_limit: int = 1000
    delivery_time_scale: float = 1.0
    # How long a request body may take, in all, to arrive once its headers have (a
    # client that announces more bytes than it sends, or drips them, gets a 400, not a
    # thread held forever), and how long a request's line and headers may take once
    # its first byte has come (then the connection is closed). An idle kept-alive
    # connection waits for its next request without a limit, as before: closing it
    # could break a request the client is sending on it at that moment.
    body_timeout: float = 10.0
    header_timeout: float = 10.0
    assumed: Assumed = field(default_factory=Assumed)


class EmulatorServer(ThreadingHTTPServer):
    daemon_threads = True
    # Let a restarted emulator take its old port at once.
    allow_reuse_address = True

    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        config.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.store = Store(config.data_dir / "emulator.sqlite3")
        self.clock = Clock()
        self.authority = Authority(self.store, self.clock, config.assumed)
        self.kit = TestKit()
        self.deliverer = Deliverer(
            self.store, self.clock, config.assumed, config.delivery_time_scale
        )
        self.api = DfnsApi(
            self.store,
            self.authority,
            self.clock,
            self.deliverer,
            max_webhooks=config.max_webhooks,
            rate_limit=config.rate_limit,
            assumed=config.assumed,
        )
        super().__init__((config.host, config.port), Handler)
        self.credentials = bootstrap(self, config)
        # Retries a previous run scheduled are made now, the due ones at once.
        self.deliverer.start()

    @property
    def url(self) -> str:
        port = self.server_address[1]
        return f"http://{self.config.host}:{port}"

    def process_request(self, request: Any, client_address: Any) -> None:
        self.kit.connection_opened()
        super().process_request(request, client_address)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up (timed out, or a drop fault) is routine, not an error."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)

    def server_close(self) -> None:
        super().server_close()
        self.deliverer.close()
        self.store.close()


class DeadlineReader(io.RawIOBase):
    """A connection's bytes, every read bounded by what is left of one deadline (None:
    no bound). A per-read timeout bounds nothing: a client sending a byte now and then
    keeps each read short. Past the deadline a read raises TimeoutError."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.deadline: float | None = None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self.deadline is None:
            self.sock.settimeout(None)
        else:
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("request deadline passed")
            self.sock.settimeout(left)
        received: int = self.sock.recv_into(buffer)
        return received


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as Dfns's front end offers
    server: EmulatorServer
    server_version = "dfns-emulator"

    # Headers and body leave in separate writes; with Nagle's algorithm on, the body
    # waits for the client's delayed ACK (about 40 ms) on a kept-alive connection.
    disable_nagle_algorithm = True

    def date_time_string(self, timestamp: float | None = None) -> str:
        """`Date` from the emulator's clock, the clock that dates webhooks, as one Dfns
        clock would (RFC 9110 6.6.1: an origin server with a clock sends Date)."""
        return super().date_time_string(self.server.clock.now() if timestamp is None else timestamp)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the request log at /_emulator/requests says what happened."""

    def setup(self) -> None:
        super().setup()
        self._reader = DeadlineReader(self.connection)
        self.rfile.close()  # the plain reader setup() made; the socket stays open
        self._buffered = io.BufferedReader(self._reader)
        self.rfile = self._buffered

    def handle_one_request(self) -> None:
        """Wait for a request's first byte as long as the client likes (keep-alive),
        then give its line and headers --header-timeout in all. http.server closes the
        connection when a read times out while it reads them."""
        self._reader.deadline = None
        if not self._buffered.peek(1):  # the client closed the connection
            self.close_connection = True
            return
        self._reader.deadline = time.monotonic() + self.server.config.header_timeout
        try:
            super().handle_one_request()
        finally:
            self._reader.deadline = None
            self.connection.settimeout(None)

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def do_PATCH(self) -> None:
        self._serve()

    # -- plumbing ---------------------------------------------------------------------

    def _read_request(self) -> Request:
        """Parse the request; a framing the emulator cannot trust is a 400 and the
        connection closes (what follows on it cannot be told apart from this body)."""
        if self.headers.get("Transfer-Encoding"):
            self.close_connection = True
            raise ApiFailure(400, "Transfer-Encoding is not supported: send Content-Length")
        lengths = self.headers.get_all("Content-Length") or []
        if len(set(lengths)) > 1 or any(not _CONTENT_LENGTH.fullmatch(v.strip()) for v in lengths):
            self.close_connection = True
            raise ApiFailure(400, "Content-Length must be one whole number of bytes")
        length = int(lengths[0]) if lengths else 0
        if length > MAX_BODY:
            self.close_connection = True
            raise ApiFailure(413, "body too large")
        body = b""
        if length:
            timeout = self.server.config.body_timeout
            self._reader.deadline = time.monotonic() + timeout
            try:
                body = self.rfile.read(length)
            except TimeoutError:
                body = b""
            finally:
                self._reader.deadline = None
                self.connection.settimeout(None)  # answers are written without a limit
            if len(body) != length:
                self.close_connection = True
                raise ApiFailure(
                    400,
                    f"body shorter than its Content-Length (it did not all arrive within "
                    f"{timeout:g}s)",
                )
        else:
            self._reader.deadline = None
            self.connection.settimeout(None)
        try:
            split = urlsplit(self.path)
        except ValueError:  # e.g. a request target `//[::1/x` (unclosed IPv6 bracket)
            raise ApiFailure(400, "request target is not a valid path") from None
        return Request(
            method=self.command,
            path=split.path,
            query=dict(parse_qsl(split.query)),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
        )

    def _serve(self) -> None:
        kit = self.server.kit
        try:
            request = self._read_request()
        except ApiFailure as failure:
            self._write(failure.status, failure.body(), failure.headers)
            return
        if request.path.startswith(CONTROL_PREFIX):
            self._control(request)
            return
        generation = kit.arrived()
        entry: dict[str, Any] = {
            "method": request.method,
            "path": request.path,
            "query": request.query,
            "time": time.time(),
            "userActionConsumed": False,
            "userAgent": request.headers.get("user-agent", ""),
            "bodyFields": _body_fields(request.body),
        }
        if kit.latency:
            time.sleep(kit.latency)
        fault = kit.take_fault(request.method, request.path)
        if fault is not None:
            entry["fault"] = fault.action
            if fault.action == "status":
                self._answer_fault_status(fault, entry, generation)
                return
            if fault.action == "drop":
                entry["status"] = None
                kit.record(entry, generation)
                self._drop()
                return
            if fault.action == "delay":
                time.sleep(fault.delay)
        reply = self._dispatch(request)
        entry["status"] = reply.status
        entry["userActionConsumed"] = reply.user_action_consumed
        if fault is not None and fault.action == "drop_after":
            entry["status"] = None
            kit.record(entry, generation)
            self._drop()
            return
        kit.record(entry, generation)
        if fault is not None and fault.action == "malformed":
            self._write_raw(200, b"<html>upstream error</html>", "text/html", reply.headers)
            return
        self._write(reply.status, reply.body, reply.headers)

    def _dispatch(self, request: Request) -> Reply:
        try:
            return self.server.api.handle(request)
        except ApiFailure as failure:
            return Reply(
                failure.status, failure.body(), failure.headers, failure.user_action_consumed
            )
        except Exception as exc:  # an emulator bug must answer, not hang the client
            return Reply(500, ApiFailure(500, f"emulator error: {type(exc).__name__}").body())

    def _answer_fault_status(self, fault: Fault, entry: dict[str, Any], generation: int) -> None:
        status = fault.status
        headers: dict[str, str] = dict(fault.headers or {})
        if fault.retry_after is not None:
            headers["Retry-After"] = f"{fault.retry_after:g}"
        if status == 202:
            # ASSUMED shape (assumed.py): the provider reads only the status.
            body: Any = {"id": new_id("ap"), "status": "Pending", "kind": APPROVAL_BODY_KIND}
        else:
            body = ApiFailure(status, fault.message or f"injected fault: HTTP {status}").body()
        entry["status"] = status
        self.server.kit.record(entry, generation)
        self._write(status, body, headers)

    def _drop(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def _write(self, status: int, body: Any, headers: dict[str, str]) -> None:
        data = json.dumps(body).encode() if body is not None else b""
        self._write_raw(status, data, "application/json", headers)

    def _write_raw(
        self, status: int, data: bytes, content_type: str, headers: dict[str, str]
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            self.send_header(name, value)
        if self.close_connection:  # a framing refusal: say so, then hang up
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)

    # -- /_emulator/ ------------------------------------------------------------------

    def _control(self, request: Request) -> None:
        route = (request.method, request.path[len(CONTROL_PREFIX) :].rstrip("/"))
        try:
            body = json.loads(request.body) if request.body else {}
        except (ValueError, RecursionError):
            self._write(400, ApiFailure(400, "body is not JSON").body(), {})
            return
        action = CONTROL_ROUTES.get(route)
        if action is None:
            failure = ApiFailure(404, f"no emulator facility {route[0]} {CONTROL_PREFIX}{route[1]}")
            self._write(404, failure.body(), {})
            return
        try:
            answer = action(self.server, body)
        except ApiFailure as failure:
            self._write(failure.status, failure.body(), {})
            return
        self._write(200, answer, {})


def _body_fields(body: bytes) -> list[str] | None:
    """The top-level keys of a JSON object body (values stay out of the log)."""
    try:
        parsed = json.loads(body) if body else None
    except (ValueError, RecursionError):  # not JSON, or nested past Python's stack
        return None
    return sorted(parsed) if isinstance(parsed, dict) else None
