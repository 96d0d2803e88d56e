"""The Dfns HTTP client: auth header, User Action Signing, retries, webhook calls.

Callers speak in webhook terms; only this module knows URL paths and headers.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote

from .errors import (
    DfnsApiError,
    DfnsError,
    DfnsMalformedResponseError,
    DfnsRateLimitedError,
    DfnsServerError,
    DfnsSettingsError,
    DfnsSigningError,
    DfnsTransportError,
)
from .settings import ClientSettings
from .transport import Answer, Transport, encode_json, error_from, expect_object, send

RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
WEBHOOK_FIELDS = ("id", "url", "events", "status")
PAGE_LIMIT = 100
SIGNING_PATHS = frozenset({"/auth/action/init", "/auth/action"})


class DfnsClient:
    """A client for one organisation. Thread-safe: one connection pool, no per-call state."""

    def __init__(
        self,
        settings: ClientSettings,
        *,
        transport: Transport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        page_limit: int = PAGE_LIMIT,
    ) -> None:
        self.settings = settings
        self.page_limit = page_limit
        self._transport = transport or Transport(settings.api_url)
        self._sleep = sleep
        self._random = random.Random()

    def close(self) -> None:
        self._transport.close()

    # -- webhooks ---------------------------------------------------------------------

    def create_webhook(
        self,
        url: str,
        events: list[str],
        *,
        status: str | None = None,
        description: str | None = None,
    ) -> dict[str, Any]:
        """POST /webhooks. Not idempotent at Dfns: a lost answer is never blindly retried."""
        body: dict[str, Any] = {"url": url, "events": events}
        if status is not None:
            body["status"] = status
        if description is not None:
            body["description"] = description
        answer = self._call(
            "POST", "/webhooks", body=body, signed=True, idempotent=False, expect=WEBHOOK_FIELDS
        )
        return _object(answer)

    def get_webhook(self, webhook_id: str) -> dict[str, Any]:
        path = f"/webhooks/{_segment(webhook_id)}"
        return _object(self._call("GET", path, expect=WEBHOOK_FIELDS))

    def list_webhooks(self) -> list[dict[str, Any]]:
        """Every webhook of the organisation, following all pages."""
        return list(self._pages("/webhooks", {}))

    def update_webhook(self, webhook_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        """PUT /webhooks/{id} with only the fields that change (a partial update)."""
        path = f"/webhooks/{_segment(webhook_id)}"
        return _object(self._call("PUT", path, body=changes, signed=True, expect=WEBHOOK_FIELDS))

    def delete_webhook(self, webhook_id: str) -> None:
        # Sent with no body, as the official Python SDK does (signed payload "").
        path = f"/webhooks/{_segment(webhook_id)}"
        self._call("DELETE", path, signed=True)

    def ping_webhook(self, webhook_id: str) -> dict[str, Any]:
        """POST /webhooks/{id}/ping: Dfns sends a test event and reports the receiver's status."""
        path = f"/webhooks/{_segment(webhook_id)}/ping"
        return _object(self._call("POST", path, signed=True, idempotent=False, expect=("status",)))

    def list_webhook_events(
        self,
        webhook_id: str,
        *,
        kind: str | None = None,
        delivery_failed: bool | None = None,
    ) -> list[dict[str, Any]]:
        params: dict[str, str] = {}
        if kind is not None:
            params["kind"] = kind
        if delivery_failed is not None:
            params["deliveryFailed"] = "true" if delivery_failed else "false"
        return list(self._pages(f"/webhooks/{_segment(webhook_id)}/events", params))

    def webhook_events_page(
        self, webhook_id: str, *, delivery_failed: bool, limit: int
    ) -> tuple[list[dict[str, Any]], bool]:
        """ONE page of a webhook's events (one GET, a bounded cost) and whether more exist."""
        params = {"deliveryFailed": "true" if delivery_failed else "false", "limit": str(limit)}
        path = f"/webhooks/{_segment(webhook_id)}/events"
        body = _object(self._call("GET", path, params=params, expect=("items",)))
        items = body["items"]
        if not isinstance(items, list):
            raise DfnsError(f"GET {path}: 'items' is not a list")
        more = bool(body.get("nextPageToken")) or len(items) >= limit
        return [i for i in items if isinstance(i, dict)], more

    def get_webhook_event(self, webhook_id: str, event_id: str) -> dict[str, Any]:
        path = f"/webhooks/{_segment(webhook_id)}/events/{_segment(event_id)}"
        return _object(self._call("GET", path, expect=("id", "kind")))

    # -- plumbing ---------------------------------------------------------------------

    def _pages(self, path: str, params: dict[str, str]) -> Iterator[dict[str, Any]]:
        token: str | None = None
        while True:
            query = dict(params, limit=str(self.page_limit))
            if token:
                query["paginationToken"] = token
            body = _object(self._call("GET", path, params=query, expect=("items",)))
            items = body["items"]
            if not isinstance(items, list):
                raise DfnsError(f"GET {path}: 'items' is not a list")
            yield from items
            next_token = body.get("nextPageToken")
            if not next_token or next_token == token:
                return
            token = str(next_token)

    def _call(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: dict[str, str] | None = None,
        signed: bool = False,
        idempotent: bool = True,
        expect: tuple[str, ...] | None = None,
    ) -> Answer:
        """One logical call, retried within the settings' bounds.

        A signed call gets a fresh challenge and signature on every attempt, since a
        user action token is single-use. A non-idempotent call is retried only when
        Dfns surely did not act (429, or a connection that never opened). `expect`
        names the fields a good answer's JSON object holds: an answer without them is
        malformed, and retried like a lost one.
        """
        deadline = time.monotonic() + self.settings.retry_timeout
        attempt = 0
        while True:
            attempt += 1
            try:
                answer = self._attempt(method, path, body, params, signed)
                if expect is not None:
                    expect_object(method, path, answer, *expect)
                return answer
            except (
                DfnsTransportError,
                DfnsRateLimitedError,
                DfnsServerError,
                DfnsMalformedResponseError,
            ) as exc:
                if not self._may_retry(exc, idempotent):
                    raise
                delay = self._backoff(attempt, exc)
                out_of_attempts = attempt >= self.settings.max_attempts
                out_of_time = time.monotonic() + delay > deadline
                if out_of_attempts or out_of_time:
                    raise
                self._sleep(delay)

    @staticmethod
    def _may_retry(exc: DfnsError, idempotent: bool) -> bool:
        if getattr(exc, "path", None) in SIGNING_PATHS:
            # Getting a challenge or a token changes no webhook: always safe to repeat.
            return True
        if isinstance(exc, DfnsTransportError):
            return idempotent or not exc.maybe_applied
        if isinstance(exc, DfnsRateLimitedError):
            return True
        if isinstance(exc, DfnsMalformedResponseError):
            # Dfns may have acted before the answer went wrong: only repeatable calls.
            return idempotent
        return idempotent and isinstance(exc, DfnsApiError) and exc.status in RETRYABLE_STATUSES

    def _backoff(self, attempt: int, exc: DfnsError) -> float:
        asked = getattr(exc, "retry_after", None)
        if isinstance(asked, float | int):
            return float(asked) + self._random.uniform(0, 0.1)
        # Exponential with full jitter: 0.25 s, 0.5 s, 1 s, ... capped at 8 s.
        return self._random.uniform(0, min(8.0, 0.25 * 2 ** (attempt - 1)))

    def _attempt(
        self,
        method: str,
        path: str,
        body: Any,
        params: dict[str, str] | None,
        signed: bool,
    ) -> Answer:
        data = encode_json(body) if body is not None else None
        headers = self._headers(data is not None)
        if signed:
            headers["X-DFNS-USERACTION"] = self._user_action(method, path, data)
        answer = self._send(method, path, headers, data, params)
        if answer.status >= 300 or answer.status == 202:
            raise error_from(method, path, answer)
        return answer

    def _user_action(self, method: str, path: str, data: bytes | None) -> str:
        credential = self.settings.credential
        if credential is None:
            raise DfnsSettingsError(
                "dfns:credentialId", "changing webhooks needs a signing credential and key"
            )
        init_body = encode_json(
            {
                "userActionPayload": data.decode("utf-8") if data is not None else "",
                "userActionHttpMethod": method,
                "userActionHttpPath": path,
                "userActionServerKind": "Api",
            }
        )
        answer = self._send("POST", "/auth/action/init", self._headers(True), init_body, None)
        if answer.status >= 300:
            raise error_from("POST", "/auth/action/init", answer)
        challenge = expect_object(
            "POST", "/auth/action/init", answer, "challenge", "challengeIdentifier"
        )
        assertion = credential.assertion_for(challenge)
        sign_body = encode_json(
            {"challengeIdentifier": challenge["challengeIdentifier"], "firstFactor": assertion}
        )
        answer = self._send("POST", "/auth/action", self._headers(True), sign_body, None)
        if answer.status in (400, 401, 403):
            # The token passed /auth/action/init, so a refusal here is about the key.
            refused = error_from("POST", "/auth/action", answer)
            raise DfnsSigningError(
                f"Dfns refused the user action signature of credential "
                f"{credential.credential_id} (HTTP {answer.status}: "
                f"{refused.dfns_message or 'no message'}): dfns:privateKey must be the "
                "private key registered for dfns:credentialId"
            )
        if answer.status >= 300:
            raise error_from("POST", "/auth/action", answer)
        token = expect_object("POST", "/auth/action", answer, "userAction")["userAction"]
        return str(token)

    def _headers(self, has_body: bool) -> dict[str, str]:
        headers = {
            "Authorization": f"Bearer {self.settings.auth_token}",
            "Accept": "application/json",
        }
        if has_body:
            headers["Content-Type"] = "application/json"
        return headers

    def _send(
        self,
        method: str,
        path: str,
        headers: dict[str, str],
        data: bytes | None,
        params: dict[str, str] | None,
    ) -> Answer:
        return send(
            self._transport,
            method,
            self.settings.api_url + path,
            path,
            headers=headers,
            data=data,
            params=params,
            timeout=(self.settings.connect_timeout, self.settings.read_timeout),
        )


def _object(answer: Answer) -> dict[str, Any]:
    """The body of an answer `_call` already checked against its `expect` fields."""
    body: dict[str, Any] = answer.body
    return body


def _segment(value: str) -> str:
    """Quote an id for a URL path segment, so an id can never reshape the path."""
    if not value:
        raise ValueError("an empty id cannot address a Dfns resource")
    return quote(value, safe="")
