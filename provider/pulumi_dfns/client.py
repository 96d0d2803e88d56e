"""The Dfns HTTP client: auth header, retries, webhook calls.

Callers speak in webhook terms; only this module knows the webhook URL paths and the
headers. The signing exchange is user_action.py, the following of pages paging.py.
"""

from __future__ import annotations

import copy
import math
import random
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any
from urllib.parse import quote

from . import retry_policy
from .dfns_clock import CreateAttempt, DfnsClock
from .errors import (
    DfnsError,
    DfnsMalformedResponseError,
    DfnsRateLimitedError,
    DfnsServerError,
    DfnsTransportError,
    DfnsUserActionError,
)
from .paging import PAGE_LIMIT, all_pages
from .settings import MIN_RETRY_TIMEOUT, ClientSettings
from .transport import (
    Answer,
    Transport,
    answer_date,
    encode_json,
    error_from,
    expect_object,
    send,
)
from .user_action import user_action_refusal, user_action_token

WEBHOOK_FIELDS = ("id", "url", "events", "status")
# A refused user action (expired or used challenge or token) is tried once more with
# a fresh challenge; a second refusal is reported with its cause.
USER_ACTION_RETRIES = 1


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
        self._clock = DfnsClock()

    def close(self) -> None:
        self._transport.close()

    def within(self, seconds: float) -> DfnsClient:
        """This client with its retry budget (dfns:retryTimeout) cut to `seconds`, for
        one operation the engine bounds (a resource's customTimeouts). It shares the
        connection pool and Dfns's clock with this one."""
        if seconds >= self.settings.retry_timeout:
            return self
        bounded = copy.copy(self)
        bounded.settings = replace(self.settings, retry_timeout=max(seconds, MIN_RETRY_TIMEOUT))
        return bounded

    # -- webhooks ---------------------------------------------------------------------

    def create_webhook(
        self,
        url: str,
        events: list[str],
        *,
        status: str | None = None,
        description: str | None = None,
        attempt: CreateAttempt | None = None,
    ) -> dict[str, Any]:
        """POST /webhooks. Not idempotent at Dfns: a lost answer is never blindly retried.

        With `attempt`, the POST is held back (by at most about a second, no request)
        until Dfns's clock has passed the second of the signing answer, so that what
        this create makes can be told by `dateCreated` from anything made before it
        (see CreateAttempt; the recovery in recovery.py relies on it).
        """
        body: dict[str, Any] = {"url": url, "events": events}
        if status is not None:
            body["status"] = status
        if description is not None:
            body["description"] = description
        answer = self._call(
            "POST",
            "/webhooks",
            body=body,
            signed=True,
            idempotent=False,
            expect=WEBHOOK_FIELDS,
            attempt=attempt,
        )
        return _object(answer)

    def get_webhook(self, webhook_id: str) -> dict[str, Any]:
        path = f"/webhooks/{_segment(webhook_id)}"
        return _object(self._call("GET", path, expect=WEBHOOK_FIELDS))

    def list_webhooks(self) -> list[dict[str, Any]]:
        """Every webhook of the organisation, following all pages."""
        return self.list_webhooks_dated()[0]

    def list_webhooks_dated(self) -> tuple[list[dict[str, Any]], float | None]:
        """Every webhook, and the `Date` of the last page's answer (epoch seconds, or
        None without one): every webhook made before that moment is in the list."""
        return self._pages("/webhooks", {})

    def update_webhook(
        self,
        webhook_id: str,
        *,
        url: str,
        events: list[str],
        status: str,
        description: str | None,
    ) -> dict[str, Any]:
        """PUT /webhooks/{id} with the whole desired state: url, events, status and
        description ("" clears it). No source says Dfns keeps omitted fields, and its
        2024 update page says an omitted status defaults to Enabled, so a partial body
        could re-enable a Disabled webhook (dfns-api.md). One signed PUT, no read first.
        """
        path = f"/webhooks/{_segment(webhook_id)}"
        body = {"url": url, "events": events, "status": status, "description": description or ""}
        return _object(self._call("PUT", path, body=body, signed=True, expect=WEBHOOK_FIELDS))

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
        return self.list_webhook_events_dated(
            webhook_id, kind=kind, delivery_failed=delivery_failed
        )[0]

    def list_webhook_events_dated(
        self,
        webhook_id: str,
        *,
        kind: str | None = None,
        delivery_failed: bool | None = None,
    ) -> tuple[list[dict[str, Any]], float | None]:
        """Every page of a webhook's events, and the `Date` of the last page's answer
        (Dfns's clock, epoch seconds; None without one)."""
        params: dict[str, str] = {}
        if kind is not None:
            params["kind"] = kind
        if delivery_failed is not None:
            params["deliveryFailed"] = "true" if delivery_failed else "false"
        return self._pages(f"/webhooks/{_segment(webhook_id)}/events", params)

    def webhook_events_page(
        self, webhook_id: str, *, delivery_failed: bool, limit: int
    ) -> tuple[list[dict[str, Any]], bool, float | None]:
        """ONE page of a webhook's events (one GET, a bounded cost), whether more exist,
        and the answer's `Date` (Dfns's clock, epoch seconds; None without one)."""
        params = {"deliveryFailed": "true" if delivery_failed else "false", "limit": str(limit)}
        path = f"/webhooks/{_segment(webhook_id)}/events"
        answer = self._call("GET", path, params=params, expect=("items",))
        body = _object(answer)
        items = body["items"]
        if not isinstance(items, list):
            raise DfnsError(f"GET {path}: 'items' is not a list")
        more = bool(body.get("nextPageToken")) or len(items) >= limit
        return [i for i in items if isinstance(i, dict)], more, answer_date(answer)

    def get_webhook_event(self, webhook_id: str, event_id: str) -> dict[str, Any]:
        path = f"/webhooks/{_segment(webhook_id)}/events/{_segment(event_id)}"
        return _object(self._call("GET", path, expect=("id", "kind")))

    # -- plumbing ---------------------------------------------------------------------

    def _pages(
        self, path: str, params: dict[str, str]
    ) -> tuple[list[dict[str, Any]], float | None]:
        def get(query: dict[str, str]) -> Answer:
            return self._call("GET", path, params=query, expect=("items",))

        return all_pages(get, path, params, self.page_limit)

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
        attempt: CreateAttempt | None = None,
    ) -> Answer:
        """One logical call, retried as retry_policy says, within the settings' bounds.

        A signed call gets a fresh challenge and signature on every attempt, since a
        user action token is single-use. A non-idempotent call is retried only when
        Dfns surely did not act (429, or a request that never left). `expect` names the
        fields a good answer's JSON object holds: an answer without them is malformed,
        and retried like a lost one. A refused user action (expired or used challenge
        or token: Dfns did not act) is retried once with a fresh challenge.
        """
        deadline = time.monotonic() + self.settings.retry_timeout
        tries = 0
        refusals = 0
        while True:
            tries += 1
            try:
                answer = self._attempt(method, path, body, params, signed, attempt)
                if expect is not None:
                    expect_object(method, path, answer, *expect)
                return answer
            except DfnsUserActionError as exc:
                refusals += 1
                if refusals > USER_ACTION_RETRIES:
                    raise DfnsUserActionError(
                        exc.method, exc.path, exc.status, exc.dfns_message, exc.cause, True
                    ) from None
            except (
                DfnsTransportError,
                DfnsRateLimitedError,
                DfnsServerError,
                DfnsMalformedResponseError,
            ) as exc:
                if not retry_policy.may_retry(exc, idempotent):
                    raise
                delay = retry_policy.delay(tries, exc, self._random)
                out_of_attempts = tries >= self.settings.max_attempts
                out_of_time = time.monotonic() + delay > deadline
                if out_of_attempts or out_of_time:
                    raise
                self._sleep(delay)

    def _attempt(
        self,
        method: str,
        path: str,
        body: Any,
        params: dict[str, str] | None,
        signed: bool,
        attempt: CreateAttempt | None = None,
    ) -> Answer:
        data = encode_json(body) if body is not None else None
        headers = self._headers(data is not None)
        if signed:
            token, signed_at = self._user_action(method, path, data)
            headers["X-DFNS-USERACTION"] = token
            if attempt is not None:
                attempt.dated_after = None
                if signed_at is not None:
                    # The next whole second of Dfns's clock after its signing answer:
                    # anything made before that answer was dated is dated before it.
                    moment = math.floor(signed_at) + 1.0
                    self._sleep(self._clock.wait_for(moment))
                    attempt.dated_after = moment
        answer = self._send(method, path, headers, data, params)
        if answer.status >= 300 or answer.status == 202:
            error = error_from(method, path, answer)
            cause = user_action_refusal(path, answer.status, error.dfns_message)
            if signed and cause is not None:
                raise DfnsUserActionError(
                    method, path, answer.status, error.dfns_message, cause, False
                )
            raise error
        return answer

    def _user_action(self, method: str, path: str, data: bytes | None) -> tuple[str, float | None]:
        """A user action token for this exact request, and the `Date` of its answer."""
        return user_action_token(
            self._send, self._headers(True), self.settings.credential, method, path, data
        )

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
        answer = send(
            self._transport,
            method,
            self.settings.api_url + path,
            path,
            headers=headers,
            data=data,
            params=params,
            timeout=(self.settings.connect_timeout, self.settings.read_timeout),
        )
        self._clock.observe(answer.headers, time.monotonic())
        return answer


def _object(answer: Answer) -> dict[str, Any]:
    """The body of an answer `_call` already checked against its `expect` fields."""
    body: dict[str, Any] = answer.body
    return body


def _segment(value: str) -> str:
    """Quote an id for a URL path segment, so an id can never reshape the path."""
    if not value:
        raise ValueError("an empty id cannot address a Dfns resource")
    return quote(value, safe="")
