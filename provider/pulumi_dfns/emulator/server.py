"""The emulator's HTTP server: sockets, keep-alive, faults, request log, control routes."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from cryptography.hazmat.primitives import serialization

from ..signing import generate_private_key, key_type_of, private_key_pem
from .api import DfnsApi, Reply, Request
from .auth import Authority, Clock, new_id
from .deliveries import Deliverer
from .errors import ApiFailure
from .store import Store
from .testkit import TestKit, parse_chaos, parse_fault

CONTROL_PREFIX = "/_emulator/"
MAX_BODY = 1 << 20


@dataclass(frozen=True)
class EmulatorConfig:
    data_dir: Path
    host: str = "127.0.0.1"
    port: int = 0
    max_webhooks: int = 5
    key_type: str = "ed25519"
    rate_limit: int = 1000
    delivery_time_scale: float = 1.0


class EmulatorServer(ThreadingHTTPServer):
    daemon_threads = True
    # Let a restarted emulator take its old port at once.
    allow_reuse_address = True

    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        config.data_dir.mkdir(parents=True, exist_ok=True)
        self.store = Store(config.data_dir / "emulator.sqlite3")
        self.clock = Clock()
        self.authority = Authority(self.store, self.clock)
        self.kit = TestKit()
        self.deliverer = Deliverer(self.store, self.clock, config.delivery_time_scale)
        self.api = DfnsApi(
            self.store,
            self.authority,
            self.clock,
            self.deliverer,
            max_webhooks=config.max_webhooks,
            rate_limit=config.rate_limit,
        )
        super().__init__((config.host, config.port), Handler)
        self.credentials = bootstrap(self, config)

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


def bootstrap(server: EmulatorServer, config: EmulatorConfig) -> dict[str, str]:
    """On first start: an org, a service account, its token and key; write credentials.json."""
    path = config.data_dir / "credentials.json"
    key_file = config.data_dir / "service-account-key.pem"
    store = server.store
    if store.get_meta("org_id") is None:
        key = generate_private_key(config.key_type)
        org_id, user_id, credential_id = new_id("or"), new_id("us"), new_id("cr")
        public_pem = (
            key.public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode("ascii")
        )
        with store.transaction() as db:
            store.set_meta(db, "org_id", org_id)
            store.set_meta(db, "user_id", user_id)
            db.execute(
                "INSERT INTO credentials(credential_id, user_id, key_type, public_key_pem)"
                " VALUES (?,?,?,?)",
                (credential_id, user_id, key_type_of(key), public_pem),
            )
            token = server.authority.issue_token(db, org_id, user_id)
            store.set_meta(db, "service_account_token", token)
            store.set_meta(db, "credential_id", credential_id)
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(private_key_pem(key))
    credentials = {
        "apiUrl": server.url,
        "authToken": store.get_meta("service_account_token") or "",
        "credentialId": store.get_meta("credential_id") or "",
        "privateKeyFile": str(key_file.resolve()),
    }
    # The port may differ from the last start: rewrite so apiUrl is always current.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(credentials, handle, indent=2)
    return credentials


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
        split = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            raise ApiFailure(413, "body too large")
        body = self.rfile.read(length) if length else b""
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
                self._answer_fault_status(fault.status, fault.retry_after, entry)
                return
            if fault.action == "drop":
                entry["status"] = None
                kit.record(entry)
                self._drop()
                return
            if fault.action == "delay":
                time.sleep(fault.delay)
        reply = self._dispatch(request)
        entry["status"] = reply.status
        entry["userActionConsumed"] = reply.user_action_consumed
        if fault is not None and fault.action == "drop_after":
            entry["status"] = None
            kit.record(entry)
            self._drop()
            return
        kit.record(entry)
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

    def _answer_fault_status(
        self, status: int, retry_after: float | None, entry: dict[str, Any]
    ) -> None:
        headers: dict[str, str] = {}
        if retry_after is not None:
            headers["Retry-After"] = f"{retry_after:g}"
        if status == 202:
            body: Any = {"id": new_id("ap"), "status": "Pending", "kind": "Webhooks"}
        else:
            body = ApiFailure(status, f"injected fault: HTTP {status}").body()
        entry["status"] = status
        self.server.kit.record(entry)
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
        self.end_headers()
        self.wfile.write(data)

    # -- /_emulator/ ------------------------------------------------------------------

    def _control(self, request: Request) -> None:
        kit = self.server.kit
        route = (request.method, request.path[len(CONTROL_PREFIX) :].rstrip("/"))
        try:
            body = json.loads(request.body) if request.body else {}
        except ValueError:
            self._write(400, ApiFailure(400, "body is not JSON").body(), {})
            return
        try:
            answer = self._control_route(route, body, kit)
        except ApiFailure as failure:
            self._write(failure.status, failure.body(), {})
            return
        self._write(200, answer, {})

    def _control_route(self, route: tuple[str, str], body: Any, kit: TestKit) -> Any:
        if route == ("GET", "requests"):
            return {"items": kit.log()}
        if route == ("DELETE", "requests"):
            kit.clear_log()
            return {"cleared": True}
        if route == ("GET", "faults"):
            return {"items": kit.faults()}
        if route == ("POST", "faults"):
            kit.add_fault(parse_fault(body))
            return {"items": kit.faults()}
        if route == ("DELETE", "faults"):
            kit.clear_faults()
            return {"items": []}
        if route == ("GET", "latency"):
            return {"seconds": kit.latency}
        if route == ("POST", "latency"):
            seconds = body.get("seconds") if isinstance(body, dict) else None
            if not isinstance(seconds, int | float) or not 0 <= seconds <= 60:
                raise ApiFailure(400, "latency.seconds: a number from 0 to 60")
            kit.latency = float(seconds)
            return {"seconds": kit.latency}
        if route == ("GET", "stats"):
            return {
                "connectionsOpened": kit.connections_opened,
                "chaos": kit.chaos_stats(),
                "pendingRetries": self.server.deliverer.pending_retries(),
            }
        if route == ("POST", "chaos"):
            kit.set_chaos(parse_chaos(body))
            return kit.chaos_stats()
        if route == ("DELETE", "chaos"):
            stats = kit.chaos_stats()
            kit.set_chaos(None)
            return stats
        if route == ("POST", "clock"):
            advance = body.get("advanceSeconds") if isinstance(body, dict) else None
            if not isinstance(advance, int | float) or advance < 0:
                raise ApiFailure(400, "clock.advanceSeconds: a number >= 0")
            self.server.clock.offset += float(advance)
            return {"offsetSeconds": self.server.clock.offset}
        if route == ("POST", "events"):
            return {"deliveries": self._emit(body)}
        if route == ("POST", "tokens"):
            return {"token": self._issue_token(body)}
        raise ApiFailure(404, f"no emulator facility {route[0]} {CONTROL_PREFIX}{route[1]}")

    def _emit(self, body: Any) -> list[dict[str, Any]]:
        """Emit an event of a kind to every subscribed, Enabled webhook (as Dfns would)."""
        if not isinstance(body, dict) or not isinstance(body.get("kind"), str):
            raise ApiFailure(400, "events: body must be an object with a kind")
        data = body.get("data", {})
        if not isinstance(data, dict):
            raise ApiFailure(400, "events.data: an object")
        scale = body.get("timeScale")
        if scale is not None and (not isinstance(scale, int | float) or scale < 0):
            raise ApiFailure(400, "events.timeScale: a number >= 0")
        org_id = self.server.store.get_meta("org_id")
        assert org_id
        return self.server.deliverer.emit(
            org_id, body["kind"], data, None if scale is None else float(scale)
        )

    def _issue_token(self, body: Any) -> str:
        """A further token for the same service account: other permissions or user kind."""
        if not isinstance(body, dict):
            raise ApiFailure(400, "tokens: body must be an object")
        kind = body.get("kind", "ServiceAccount")
        if kind not in ("ServiceAccount", "CustomerEmployee", "EndUser"):
            raise ApiFailure(400, "tokens.kind: ServiceAccount, CustomerEmployee or EndUser")
        permissions = body.get("permissions")
        store = self.server.store
        org_id, user_id = store.get_meta("org_id"), store.get_meta("user_id")
        assert org_id and user_id
        with store.transaction() as db:
            if permissions is None:
                return self.server.authority.issue_token(db, org_id, user_id, kind=kind)
            if not isinstance(permissions, list) or not all(
                isinstance(p, str) for p in permissions
            ):
                raise ApiFailure(400, "tokens.permissions: a list of permission names")
            return self.server.authority.issue_token(
                db, org_id, user_id, kind=kind, permissions=tuple(permissions)
            )


def _body_fields(body: bytes) -> list[str] | None:
    """The top-level keys of a JSON object body (values stay out of the log)."""
    try:
        parsed = json.loads(body) if body else None
    except ValueError:
        return None
    return sorted(parsed) if isinstance(parsed, dict) else None
