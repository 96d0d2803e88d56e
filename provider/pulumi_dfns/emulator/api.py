"""The emulated Dfns API: webhooks and auth/action, behind bearer and user-action checks.

`DfnsApi.handle` takes one parsed request and answers one `Reply`; the HTTP layer
(server.py) owns sockets, faults and the request log. The routes are data (`ROUTES`:
method, path pattern, handler, permission, whether a user action is spent), so adding
an endpoint is one row and one method; all storage goes through store.py.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from ..events import KNOWN_KINDS
from .assumed import Assumed
from .auth import Authority, Caller
from .clock import Clock, webhook_id
from .deliveries import Deliverer
from .errors import ApiFailure
from .rate_limit import RateLimiter
from .shapes import event_json, webhook_json
from .store import Row, Store
from .validation import action_body, action_init_body, refuse_lone_surrogates, webhook_body

# Page sizes: webhooks up to 100 and a default of 100 for both lists: ASSUMED (the
# reference gives neither). Webhook events: `limit` "Required range: 0 < x <= 200"
# (https://docs.dfns.co/api-reference/webhooks/list-webhook-events); the 2024 docs in
# dfns/dfns-api-docs give no maximum.
WEBHOOK_PAGE_MAX = 100
EVENT_PAGE_MAX = 200
PAGE_DEFAULT = 100
# Webhook events are kept 31 days (dfns/dfns-api-docs api-docs/webhooks/README.md).
EVENT_RETENTION = 31 * 24 * 3600.0
# A page token is the decimal position of the last item served, base64url-encoded;
# SQLite integers are 64-bit, so a longer token cannot be one of ours.
_PAGE_TOKEN = re.compile(r"[0-9]{1,18}")
_WHOLE_NUMBER = re.compile(r"[0-9]{1,6}")


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


RouteHandler = Callable[["DfnsApi", Caller, Request, dict[str, str]], Reply]


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    handler: RouteHandler
    permission: str | None = None  # None: any authenticated caller (auth/action)
    signed: bool = False  # spends a user action token bound to this request
    webhooks: bool = True  # refused to delegated end users, as every webhook endpoint is


def _decode_page_token(token: str | None) -> int:
    if not token:
        return 0
    try:
        text = base64.urlsafe_b64decode(token.encode("ascii")).decode("ascii")
    except (ValueError, UnicodeError):
        raise ApiFailure(400, "paginationToken: invalid") from None
    if not _PAGE_TOKEN.fullmatch(text):
        raise ApiFailure(400, "paginationToken: invalid")
    return int(text)


def _page_token(seq: int) -> str:
    return base64.urlsafe_b64encode(str(seq).encode()).decode()


def _limit(query: dict[str, str], maximum: int) -> int:
    text = query.get("limit", str(PAGE_DEFAULT))
    # ASCII digits only: str.isdigit() also takes superscripts and other scripts' digits,
    # which int() refuses or reads as another number.
    if not _WHOLE_NUMBER.fullmatch(text) or not 1 <= int(text) <= maximum:
        raise ApiFailure(400, f"limit: must be a whole number from 1 to {maximum}")
    return int(text)


def _json_body(request: Request) -> Any:
    if not request.body:
        return None
    try:
        return json.loads(request.body)
    except (ValueError, RecursionError):
        raise ApiFailure(400, "body is not valid JSON") from None


def _page(rows: list[Row], limit: int, render: Callable[[Row], dict[str, Any]]) -> Reply:
    body: dict[str, Any] = {"items": [render(r) for r in rows[:limit]]}
    if len(rows) > limit:
        body["nextPageToken"] = _page_token(rows[limit - 1]["seq"])
    return Reply(200, body)


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
        assumed: Assumed,
    ) -> None:
        self.store = store
        self.auth = authority
        self.clock = clock
        self.deliverer = deliverer
        self.max_webhooks = max_webhooks
        self.assumed = assumed
        self.rate = RateLimiter(rate_limit, clock)

    def handle(self, request: Request) -> Reply:
        caller = self.auth.caller(request.headers.get("authorization"))
        rate_headers = self.rate.spend(caller.org_id)
        try:
            refuse_lone_surrogates(request.body)
            reply = self._route(caller, request)
        except ApiFailure as failure:
            failure.headers.update(rate_headers)
            raise
        reply.headers.update(rate_headers)
        return reply

    # -- routing ----------------------------------------------------------------------

    def _route(self, caller: Caller, request: Request) -> Reply:
        path = request.path.rstrip("/") or "/"
        matched = [(r, m) for r in ROUTES if (m := r.pattern.fullmatch(path))]
        if not matched:
            raise ApiFailure(404, "Not found")
        for route, match in matched:
            if route.method == request.method:
                params = {k: unquote(v) for k, v in match.groupdict().items()}
                return self._run(route, caller, request, params)
        raise ApiFailure(405, f"{request.method} is not allowed on {request.path}")

    def _run(self, route: Route, caller: Caller, request: Request, params: dict[str, str]) -> Reply:
        if route.webhooks and caller.kind == "EndUser":
            raise ApiFailure(403, "Forbidden: delegated end users cannot manage webhooks")
        if route.permission is not None and route.permission not in caller.permissions:
            raise ApiFailure(403, f"Forbidden: missing permission {route.permission}")
        if not route.signed:
            return route.handler(self, caller, request, params)
        self.auth.consume_user_action(
            caller,
            request.headers.get("x-dfns-useraction"),
            request.method,
            request.path,
            request.body,
        )
        try:
            reply = route.handler(self, caller, request, params)
        except ApiFailure as failure:
            failure.user_action_consumed = True
            raise
        reply.user_action_consumed = True
        return reply

    # -- auth/action ------------------------------------------------------------------

    def action_init(self, caller: Caller, request: Request, params: dict[str, str]) -> Reply:
        fields = action_init_body(_json_body(request))
        challenge = self.auth.new_challenge(
            caller,
            fields["userActionHttpMethod"],
            fields["userActionHttpPath"],
            fields["userActionPayload"],
        )
        return Reply(200, challenge)

    def action(self, caller: Caller, request: Request, params: dict[str, str]) -> Reply:
        identifier, assertion = action_body(_json_body(request))
        token = self.auth.redeem_assertion(caller, identifier, assertion)
        return Reply(200, {"userAction": token})

    # -- webhooks ---------------------------------------------------------------------

    def _webhook_row(self, caller: Caller, webhook_id: str) -> Row:
        row = self.store.webhook(caller.org_id, webhook_id)
        if row is None:
            raise ApiFailure(404, f"Webhook {webhook_id} not found")
        return row

    def create_webhook(self, caller: Caller, request: Request, params: dict[str, str]) -> Reply:
        fields = webhook_body(_json_body(request), create=True, assumed=self.assumed)
        now = self.clock.iso(self.clock.now())
        row = self.store.add_webhook(
            {
                "id": webhook_id(),
                "org_id": caller.org_id,
                "url": fields["url"],
                "events": fields["events"],
                "status": fields.get("status", "Enabled"),
                "description": fields.get("description"),
                "secret": "whsec-" + secrets.token_urlsafe(32),
                "date_created": now,
                "date_updated": now,
            },
            self.max_webhooks,
        )
        if row is None:
            raise ApiFailure(
                self.assumed.webhook_limit_status,
                self.assumed.webhook_limit_message.format(limit=self.max_webhooks),
            )
        return Reply(200, webhook_json(row, with_secret=True))

    def list_webhooks(self, caller: Caller, request: Request, params: dict[str, str]) -> Reply:
        limit = _limit(request.query, WEBHOOK_PAGE_MAX)
        after = _decode_page_token(request.query.get("paginationToken"))
        rows = self.store.webhooks_page(caller.org_id, after, limit + 1)
        return _page(rows, limit, webhook_json)

    def get_webhook(self, caller: Caller, request: Request, params: dict[str, str]) -> Reply:
        row = self._webhook_row(caller, params["webhook_id"])
        return Reply(200, webhook_json(row, with_secret=self.assumed.secret_in_get))

    def update_webhook(self, caller: Caller, request: Request, params: dict[str, str]) -> Reply:
        fields = webhook_body(_json_body(request) or {}, create=False, assumed=self.assumed)
        self._webhook_row(caller, params["webhook_id"])
        now = self.clock.iso(self.clock.now())
        row = self.store.update_webhook(params["webhook_id"], fields, now)
        if row is None:  # deleted between the two statements
            raise ApiFailure(404, f"Webhook {params['webhook_id']} not found")
        return Reply(200, webhook_json(row, with_secret=self.assumed.secret_in_get))

    def delete_webhook(self, caller: Caller, request: Request, params: dict[str, str]) -> Reply:
        self._webhook_row(caller, params["webhook_id"])
        self.store.delete_webhook(params["webhook_id"])
        return Reply(200, {"deleted": True})

    def ping_webhook(self, caller: Caller, request: Request, params: dict[str, str]) -> Reply:
        row = self._webhook_row(caller, params["webhook_id"])
        status, error = self.deliverer.ping(row)
        body: dict[str, Any] = {"status": status}
        if error:
            body["error"] = error
        return Reply(200, body)

    # -- webhook events ---------------------------------------------------------------

    def _kept_since(self) -> float:
        """Events older than this are gone (31 days, by the emulator's clock)."""
        return self.clock.now() - EVENT_RETENTION

    def list_events(self, caller: Caller, request: Request, params: dict[str, str]) -> Reply:
        self._webhook_row(caller, params["webhook_id"])
        query = request.query
        limit = _limit(query, EVENT_PAGE_MAX)
        after = _decode_page_token(query.get("paginationToken"))
        failed: bool | None = None
        if "deliveryFailed" in query:
            if query["deliveryFailed"] not in ("true", "false"):
                raise ApiFailure(400, "deliveryFailed: expected true or false")
            failed = query["deliveryFailed"] == "true"
        kind = query.get("kind")
        if kind is not None and not (kind in KNOWN_KINDS or kind in self.assumed.extra_event_kinds):
            # An enum in the reference (https://docs.dfns.co/api-reference/webhooks/
            # list-webhook-events; @dfns/sdk ListWebhookEventsQuery.kind); "*" is a
            # subscription, not a kind. Kinds are checked as webhook bodies check them.
            raise ApiFailure(400, "kind: not a webhook event kind")
        self.store.forget_events_before(self._kept_since())
        rows = self.store.events_page(
            params["webhook_id"],
            after=after,
            count=limit + 1,
            sent_since=self._kept_since(),
            kind=kind,
            delivery_failed=failed,
        )
        return _page(rows, limit, self._event_json)

    def _event_json(self, row: Row) -> dict[str, Any]:
        return event_json(row, lean=self.assumed.lean_events)

    def get_event(self, caller: Caller, request: Request, params: dict[str, str]) -> Reply:
        self._webhook_row(caller, params["webhook_id"])
        row = self.store.event(params["webhook_id"], params["event_id"], self._kept_since())
        if row is None:
            raise ApiFailure(404, f"Webhook event {params['event_id']} not found")
        return Reply(200, self._event_json(row))


def _path(template: str) -> re.Pattern[str]:
    """`/webhooks/{webhook_id}` -> a pattern whose groups are the path parameters."""
    return re.compile(re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template))


# Method, path, handler, permission (dfns/dfns-api-docs api-docs/webhooks/*.md), and
# whether the call spends a user action (every change-making call, the ping included).
ROUTES: tuple[Route, ...] = (
    Route("POST", _path("/auth/action/init"), DfnsApi.action_init, webhooks=False),
    Route("POST", _path("/auth/action"), DfnsApi.action, webhooks=False),
    Route("GET", _path("/webhooks"), DfnsApi.list_webhooks, "Webhooks:Read"),
    Route("POST", _path("/webhooks"), DfnsApi.create_webhook, "Webhooks:Create", signed=True),
    Route("GET", _path("/webhooks/{webhook_id}"), DfnsApi.get_webhook, "Webhooks:Read"),
    Route(
        "PUT",
        _path("/webhooks/{webhook_id}"),
        DfnsApi.update_webhook,
        "Webhooks:Update",
        signed=True,
    ),
    Route(
        "DELETE",
        _path("/webhooks/{webhook_id}"),
        DfnsApi.delete_webhook,
        "Webhooks:Delete",
        signed=True,
    ),
    Route(
        "POST",
        _path("/webhooks/{webhook_id}/ping"),
        DfnsApi.ping_webhook,
        "Webhooks:Ping",
        signed=True,
    ),
    Route(
        "GET",
        _path("/webhooks/{webhook_id}/events"),
        DfnsApi.list_events,
        "Webhooks:Events:Read",
    ),
    Route(
        "GET",
        _path("/webhooks/{webhook_id}/events/{event_id}"),
        DfnsApi.get_event,
        "Webhooks:Events:Read",
    ),
)
