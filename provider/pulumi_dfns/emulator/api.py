"""The emulated Dfns API: webhooks and auth/action, behind bearer and user-action checks.

`DfnsApi.handle` takes one parsed request and answers one `Reply`; the HTTP layer
(server.py) owns sockets, faults and the request log.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from .auth import Authority, Caller, Clock, new_id
from .deliveries import Deliverer
from .errors import ApiFailure
from .store import Store
from .validation import action_body, action_init_body, webhook_body

RATE_WINDOW = 60.0


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-cased names
    body: bytes


@dataclass
class Reply:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)
    user_action_consumed: bool = False


class RateLimiter:
    """Per-organisation fixed 60 s windows, with Dfns's rate-limit headers."""

    def __init__(self, limit: int, clock: Clock) -> None:
        self.limit = limit
        self.clock = clock
        self._lock = threading.Lock()
        self._windows: dict[str, tuple[float, int]] = {}

    def spend(self, org_id: str) -> dict[str, str]:
        now = self.clock.now()
        with self._lock:
            start, count = self._windows.get(org_id, (now, 0))
            if now - start >= RATE_WINDOW:
                start, count = now, 0
            count += 1
            self._windows[org_id] = (start, count)
        reset = start + RATE_WINDOW
        headers = {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(max(0, self.limit - count)),
            "X-RateLimit-Reset": str(int(reset)),
        }
        if count > self.limit:
            headers["Retry-After"] = str(max(1, int(reset - now + 0.999)))
            raise ApiFailure(429, "Too many requests: rate limit exceeded", headers)
        return headers


def _decode_page_token(token: str | None) -> int:
    if not token:
        return 0
    try:
        return int(base64.urlsafe_b64decode(token.encode()).decode())
    except (ValueError, UnicodeDecodeError):
        raise ApiFailure(400, "paginationToken: invalid") from None


def _page_token(seq: int) -> str:
    return base64.urlsafe_b64encode(str(seq).encode()).decode()


def _limit(query: dict[str, str]) -> int:
    text = query.get("limit", "100")
    if not text.isdigit() or not 1 <= int(text) <= 100:
        raise ApiFailure(400, "limit: must be a whole number from 1 to 100")
    return int(text)


def _json_body(request: Request) -> Any:
    if not request.body:
        return None
    try:
        return json.loads(request.body)
    except ValueError:
        raise ApiFailure(400, "body is not valid JSON") from None


class DfnsApi:
    def __init__(
        self,
        store: Store,
        authority: Authority,
        clock: Clock,
        deliverer: Deliverer,
        *,
        max_webhooks: int,
        rate_limit: int,
    ) -> None:
        self.store = store
        self.auth = authority
        self.clock = clock
        self.deliverer = deliverer
        self.max_webhooks = max_webhooks
        self.rate = RateLimiter(rate_limit, clock)

    def handle(self, request: Request) -> Reply:
        caller = self.auth.caller(request.headers.get("authorization"))
        rate_headers = self.rate.spend(caller.org_id)
        try:
            reply = self._route(caller, request)
        except ApiFailure as failure:
            failure.headers.update(rate_headers)
            raise
        reply.headers.update(rate_headers)
        return reply

    # -- routing ----------------------------------------------------------------------

    def _route(self, caller: Caller, request: Request) -> Reply:
        parts = [unquote(p) for p in request.path.strip("/").split("/")]
        method = request.method
        if parts[:2] == ["auth", "action"]:
            if method != "POST" or len(parts) > 3 or (len(parts) == 3 and parts[2] != "init"):
                raise ApiFailure(404, "Not found")
            return (
                self._action_init(caller, request)
                if len(parts) == 3
                else self._action(caller, request)
            )
        if not parts or parts[0] != "webhooks" or len(parts) > 4:
            raise ApiFailure(404, "Not found")
        if caller.kind == "EndUser":
            raise ApiFailure(403, "Forbidden: delegated end users cannot manage webhooks")
        if len(parts) == 1:
            if method == "POST":
                return self._signed(caller, request, "Webhooks:Create", self._create)
            if method == "GET":
                self._need(caller, "Webhooks:Read")
                return self._list(caller, request)
        elif len(parts) == 2:
            webhook_id = parts[1]
            if method == "GET":
                self._need(caller, "Webhooks:Read")
                return Reply(200, Store.webhook_json(self._webhook_row(caller, webhook_id)))
            if method == "PUT":
                return self._signed(
                    caller, request, "Webhooks:Update", lambda c, r: self._update(c, r, webhook_id)
                )
            if method == "DELETE":
                return self._signed(
                    caller, request, "Webhooks:Delete", lambda c, r: self._delete(c, webhook_id)
                )
        elif parts[2] == "ping" and len(parts) == 3:
            if method == "POST":
                return self._signed(
                    caller, request, "Webhooks:Ping", lambda c, r: self._ping(c, parts[1])
                )
        elif parts[2] == "events" and method == "GET":
            self._need(caller, "Webhooks:Events:Read")
            self._webhook_row(caller, parts[1])
            if len(parts) == 3:
                return self._list_events(parts[1], request.query)
            return self._get_event(parts[1], parts[3])
        else:
            raise ApiFailure(404, "Not found")
        raise ApiFailure(405, f"{method} is not allowed on {request.path}")

    @staticmethod
    def _need(caller: Caller, permission: str) -> None:
        if permission not in caller.permissions:
            raise ApiFailure(403, f"Forbidden: missing permission {permission}")

    def _signed(self, caller: Caller, request: Request, permission: str, action: Any) -> Reply:
        """Permission, then a valid single-use user action, then the action itself."""
        self._need(caller, permission)
        self.auth.consume_user_action(
            caller,
            request.headers.get("x-dfns-useraction"),
            request.method,
            request.path,
            request.body,
        )
        try:
            reply: Reply = action(caller, request)
        except ApiFailure as failure:
            failure.user_action_consumed = True
            raise
        reply.user_action_consumed = True
        return reply

    # -- auth/action ------------------------------------------------------------------

    def _action_init(self, caller: Caller, request: Request) -> Reply:
        fields = action_init_body(_json_body(request))
        challenge = self.auth.new_challenge(
            caller,
            fields["userActionHttpMethod"],
            fields["userActionHttpPath"],
            fields["userActionPayload"],
        )
        return Reply(200, challenge)

    def _action(self, caller: Caller, request: Request) -> Reply:
        identifier, assertion = action_body(_json_body(request))
        token = self.auth.redeem_assertion(caller, identifier, assertion)
        return Reply(200, {"userAction": token})

    # -- webhooks ---------------------------------------------------------------------

    def _webhook_row(self, caller: Caller, webhook_id: str) -> Any:
        with self.store.transaction() as db:
            row = db.execute(
                "SELECT * FROM webhooks WHERE id=? AND org_id=?", (webhook_id, caller.org_id)
            ).fetchone()
        if row is None:
            raise ApiFailure(404, f"Webhook {webhook_id} not found")
        return row

    def _create(self, caller: Caller, request: Request) -> Reply:
        fields = webhook_body(_json_body(request), create=True)
        now = self.clock.iso(self.clock.now())
        webhook_id = new_id("wh")
        with self.store.transaction() as db:
            (count,) = db.execute(
                "SELECT COUNT(*) FROM webhooks WHERE org_id=?", (caller.org_id,)
            ).fetchone()
            if count >= self.max_webhooks:
                raise ApiFailure(
                    409,
                    f"Webhook limit reached: an organization can have at most "
                    f"{self.max_webhooks} webhooks",
                )
            db.execute(
                "INSERT INTO webhooks(id, org_id, url, events, status, description, secret,"
                " date_created, date_updated) VALUES (?,?,?,?,?,?,?,?,?)",
                (
                    webhook_id,
                    caller.org_id,
                    fields["url"],
                    json.dumps(fields["events"]),
                    fields.get("status", "Enabled"),
                    fields.get("description"),
                    "whsec-" + secrets.token_urlsafe(32),
                    now,
                    now,
                ),
            )
            row = db.execute("SELECT * FROM webhooks WHERE id=?", (webhook_id,)).fetchone()
        return Reply(200, Store.webhook_json(row, with_secret=True))

    def _list(self, caller: Caller, request: Request) -> Reply:
        limit = _limit(request.query)
        after = _decode_page_token(request.query.get("paginationToken"))
        with self.store.transaction() as db:
            rows = db.execute(
                "SELECT * FROM webhooks WHERE org_id=? AND seq>? ORDER BY seq LIMIT ?",
                (caller.org_id, after, limit + 1),
            ).fetchall()
        body: dict[str, Any] = {"items": [Store.webhook_json(r) for r in rows[:limit]]}
        if len(rows) > limit:
            body["nextPageToken"] = _page_token(rows[limit - 1]["seq"])
        return Reply(200, body)

    def _update(self, caller: Caller, request: Request, webhook_id: str) -> Reply:
        fields = webhook_body(_json_body(request) or {}, create=False)
        self._webhook_row(caller, webhook_id)
        columns = {k: v for k, v in fields.items()}
        if "events" in columns:
            columns["events"] = json.dumps(columns["events"])
        columns["date_updated"] = self.clock.iso(self.clock.now())
        assignments = ", ".join(f"{name}=?" for name in columns)
        with self.store.transaction() as db:
            db.execute(
                f"UPDATE webhooks SET {assignments} WHERE id=?",  # noqa: S608 - names are fixed
                (*columns.values(), webhook_id),
            )
            row = db.execute("SELECT * FROM webhooks WHERE id=?", (webhook_id,)).fetchone()
        return Reply(200, Store.webhook_json(row))

    def _delete(self, caller: Caller, webhook_id: str) -> Reply:
        self._webhook_row(caller, webhook_id)
        with self.store.transaction() as db:
            db.execute("DELETE FROM webhooks WHERE id=?", (webhook_id,))
            db.execute("DELETE FROM webhook_events WHERE webhook_id=?", (webhook_id,))
        return Reply(200, {"deleted": True})

    def _ping(self, caller: Caller, webhook_id: str) -> Reply:
        row = self._webhook_row(caller, webhook_id)
        status, error = self.deliverer.ping(row)
        body: dict[str, Any] = {"status": status}
        if error:
            body["error"] = error
        return Reply(200, body)

    # -- webhook events ---------------------------------------------------------------

    def _list_events(self, webhook_id: str, query: dict[str, str]) -> Reply:
        limit = _limit(query)
        after = _decode_page_token(query.get("paginationToken"))
        sql = "SELECT * FROM webhook_events WHERE webhook_id=? AND seq>?"
        args: list[Any] = [webhook_id, after]
        if "kind" in query:
            sql += " AND kind=?"
            args.append(query["kind"])
        if "deliveryFailed" in query:
            if query["deliveryFailed"] not in ("true", "false"):
                raise ApiFailure(400, "deliveryFailed: expected true or false")
            sql += " AND delivery_failed=?"
            args.append(1 if query["deliveryFailed"] == "true" else 0)
        sql += " ORDER BY seq LIMIT ?"
        args.append(limit + 1)
        with self.store.transaction() as db:
            rows = db.execute(sql, args).fetchall()
        body: dict[str, Any] = {"items": [Store.event_json(r) for r in rows[:limit]]}
        if len(rows) > limit:
            body["nextPageToken"] = _page_token(rows[limit - 1]["seq"])
        return Reply(200, body)

    def _get_event(self, webhook_id: str, event_id: str) -> Reply:
        with self.store.transaction() as db:
            row = db.execute(
                "SELECT * FROM webhook_events WHERE webhook_id=? AND id=?", (webhook_id, event_id)
            ).fetchone()
        if row is None:
            raise ApiFailure(404, f"Webhook event {event_id} not found")
        return Reply(200, Store.event_json(row))
