"""The emulator's HTTP server: sockets, keep-alive, faults, request log, control routes."""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from cryptography.hazmat.primitives import serialization

from ..signing import generate_private_key, key_type_of, private_key_pem
from .api import DfnsApi, Reply, Request
from .assumed import APPROVAL_BODY_KIND, Assumed
from .auth import Authority
from .clock import Clock, credential_ids, new_id
from .deliveries import Deliverer
from .errors import ApiFailure
from .store import Store
from .testkit import Fault, TestKit, parse_chaos, parse_fault

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
    # How long a request body may take to arrive once its headers have (a client that
    # announces more bytes than it sends gets a 400, not a thread held forever).
    body_timeout: float = 10.0
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


def _write_owner_only(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)


def bootstrap(server: EmulatorServer, config: EmulatorConfig) -> dict[str, str]:
    """On first start: an org, a service account, its token and key; write credentials.json.

    credentials.json names both ids of the key credential: `credentialId` (base64url,
    what allowCredentials lists and `credId` carries: the id to configure as
    dfns:credentialId) and `credentialUuid` (`cr-...`, for Dfns's credential-management
    endpoints; never a credId).
    """
    path = config.data_dir / "credentials.json"
    key_file = config.data_dir / "service-account-key.pem"
    store = server.store
    if store.get_meta("org_id") is None:
        key = generate_private_key(config.key_type)
        org_id, user_id = new_id("or"), new_id("us")
        credential_id, credential_uuid = credential_ids()
        public_pem = (
            key.public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode("ascii")
        )
        store.add_credential(credential_id, credential_uuid, user_id, key_type_of(key), public_pem)
        token = server.authority.issue_token(org_id, user_id)
        _write_owner_only(key_file, private_key_pem(key))
        store.set_meta(
            {
                "user_id": user_id,
                "service_account_token": token,
                "credential_id": credential_id,
                "credential_uuid": credential_uuid,
                # Last: its presence says the bootstrap finished.
                "org_id": org_id,
            }
        )
    credential_id = store.get_meta("credential_id") or ""
    if store.get_meta("credential_uuid") is None:
        # A data dir from an emulator that had one id for both: give it a uuid. Its
        # credentialId stays as it was (cr-shaped), so configured stacks keep working;
        # a new data dir gets Dfns-shaped ids.
        uuid = credential_ids()[1]
        store.set_credential_uuid(credential_id, uuid)
        store.set_meta({"credential_uuid": uuid})
    credentials = {
        "apiUrl": server.url,
        "authToken": store.get_meta("service_account_token") or "",
        "credentialId": credential_id,
        "credentialUuid": store.get_meta("credential_uuid") or "",
        "privateKeyFile": str(key_file.resolve()),
    }
    # The port may differ from the last start: rewrite so apiUrl is always current.
    _write_owner_only(path, json.dumps(credentials, indent=2))
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
            self.connection.settimeout(self.server.config.body_timeout)
            try:
                body = self.rfile.read(length)
            except TimeoutError:
                body = b""
            finally:
                self.connection.settimeout(None)
            if len(body) != length:
                self.close_connection = True
                raise ApiFailure(400, "body shorter than its Content-Length")
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
                self._answer_fault_status(fault, entry)
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

    def _answer_fault_status(self, fault: Fault, entry: dict[str, Any]) -> None:
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
            answer = action(self, body)
        except ApiFailure as failure:
            self._write(failure.status, failure.body(), {})
            return
        self._write(200, answer, {})

    # -- control actions (the CONTROL_ROUTES table below names them) -------------------

    def _requests(self, body: Any) -> Any:
        return {"items": self.server.kit.log()}

    def _clear_requests(self, body: Any) -> Any:
        self.server.kit.clear_log()
        return {"cleared": True}

    def _faults(self, body: Any) -> Any:
        return {"items": self.server.kit.faults()}

    def _add_fault(self, body: Any) -> Any:
        self.server.kit.add_fault(parse_fault(body))
        return {"items": self.server.kit.faults()}

    def _clear_faults(self, body: Any) -> Any:
        self.server.kit.clear_faults()
        return {"items": []}

    def _latency(self, body: Any) -> Any:
        return {"seconds": self.server.kit.latency}

    def _set_latency(self, body: Any) -> Any:
        seconds = body.get("seconds") if isinstance(body, dict) else None
        if not isinstance(seconds, int | float) or not 0 <= seconds <= 60:
            raise ApiFailure(400, "latency.seconds: a number from 0 to 60")
        self.server.kit.latency = float(seconds)
        return {"seconds": self.server.kit.latency}

    def _stats(self, body: Any) -> Any:
        kit = self.server.kit
        return {
            "connectionsOpened": kit.connections_opened,
            "chaos": kit.chaos_stats(),
            "pendingRetries": self.server.deliverer.pending_retries(),
        }

    def _set_chaos(self, body: Any) -> Any:
        self.server.kit.set_chaos(parse_chaos(body))
        return self.server.kit.chaos_stats()

    def _clear_chaos(self, body: Any) -> Any:
        stats = self.server.kit.chaos_stats()
        self.server.kit.set_chaos(None)
        return stats

    def _advance_clock(self, body: Any) -> Any:
        advance = body.get("advanceSeconds") if isinstance(body, dict) else None
        if not isinstance(advance, int | float) or advance < 0:
            raise ApiFailure(400, "clock.advanceSeconds: a number >= 0")
        self.server.clock.offset += float(advance)
        return {"offsetSeconds": self.server.clock.offset}

    def _emit_events(self, body: Any) -> Any:
        return {"deliveries": self._emit(body)}

    def _new_token(self, body: Any) -> Any:
        return {"token": self._issue_token(body)}

    def _assumptions(self, body: Any) -> Any:
        """The values this emulator assumed where Dfns's sources are silent."""
        assumed = asdict(self.server.config.assumed)
        assumed["extra_event_kinds"] = sorted(assumed["extra_event_kinds"])
        return assumed

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
        if org_id is None:
            raise ApiFailure(500, "the emulator has no organisation yet")
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
        if org_id is None or user_id is None:
            raise ApiFailure(500, "the emulator has no service account yet")
        if permissions is None:
            return self.server.authority.issue_token(org_id, user_id, kind=kind)
        if not isinstance(permissions, list) or not all(isinstance(p, str) for p in permissions):
            raise ApiFailure(400, "tokens.permissions: a list of permission names")
        return self.server.authority.issue_token(
            org_id, user_id, kind=kind, permissions=tuple(permissions)
        )


ControlAction = Callable[[Handler, Any], Any]

# `/_emulator/<name>` facilities for tests and demos, by method and name.
CONTROL_ROUTES: dict[tuple[str, str], ControlAction] = {
    ("GET", "requests"): Handler._requests,
    ("DELETE", "requests"): Handler._clear_requests,
    ("GET", "faults"): Handler._faults,
    ("POST", "faults"): Handler._add_fault,
    ("DELETE", "faults"): Handler._clear_faults,
    ("GET", "latency"): Handler._latency,
    ("POST", "latency"): Handler._set_latency,
    ("GET", "stats"): Handler._stats,
    ("POST", "chaos"): Handler._set_chaos,
    ("DELETE", "chaos"): Handler._clear_chaos,
    ("POST", "clock"): Handler._advance_clock,
    ("POST", "events"): Handler._emit_events,
    ("POST", "tokens"): Handler._new_token,
    ("GET", "assumptions"): Handler._assumptions,
}


def _body_fields(body: bytes) -> list[str] | None:
    """The top-level keys of a JSON object body (values stay out of the log)."""
    try:
        parsed = json.loads(body) if body else None
    except (ValueError, RecursionError):  # not JSON, or nested past Python's stack
        return None
    return sorted(parsed) if isinstance(parsed, dict) else None
