"""Request-body validation, as strict as Dfns's own schema checks.

Documented (dfns/dfns-api-docs api-docs/webhooks/, api-docs/authentication/user-action-
signing/): url a valid http(s) url, events at least one, status Enabled|Disabled,
description at most 256 characters, userActionHttpMethod one of POST, PUT, DELETE, GET.
Event kinds: Dfns's API checks them against its own enum (the SDKs' generated types
are that enum; the docs ask for "supported events"), so the emulator refuses a kind
missing from the catalogue in pulumi_dfns/events.py unless `--extra-event-kind` names
it (a kind Dfns added later). ASSUMED (assumed.py): the url length cap, and that unknown
body fields answer 400.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urlsplit

from ..events import is_known
from .assumed import LONE_SURROGATE_MESSAGE, Assumed
from .errors import ApiFailure

STATUSES = ("Enabled", "Disabled")
DESCRIPTION_MAX = 256
# The enum of the 2024 docs (api-docs/authentication/user-action-signing/
# initUserActionSigning.md). Refusing PATCH is [assumed]: dfns-sdk-java signs PATCH user
# actions (DfnsHttpClient.java) for endpoints that use it; no webhook endpoint does, so
# nothing the provider sends depends on it.
USER_ACTION_METHODS = ("POST", "PUT", "DELETE", "GET")
# What json.loads leaves of an unpaired `\ud800`-`\udfff` escape (a pair becomes one
# character beyond U+FFFF).
_SURROGATE = re.compile("[\ud800-\udfff]")


def require_object(
    body: Any, allowed: set[str], where: str, *, refuse_unknown: bool = True
) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ApiFailure(400, f"{where}: body must be a JSON object")
    unknown = sorted(set(body) - allowed)
    if unknown and refuse_unknown:
        raise ApiFailure(400, f"{where}: unrecognized key(s) in object: {', '.join(unknown)}")
    return {k: v for k, v in body.items() if k in allowed}


def webhook_body(body: Any, *, create: bool, assumed: Assumed) -> dict[str, Any]:
    """Validate a create (POST) or update (PUT) body; answer the fields it sets."""
    fields = require_object(
        body,
        {"url", "events", "status", "description"},
        "webhook",
        refuse_unknown=assumed.refuse_unknown_fields,
    )
    if create:
        for name in ("url", "events"):
            if name not in fields:
                raise ApiFailure(400, f"{name}: Required")
    if "url" in fields:
        _check_url(fields["url"], assumed.url_max)
    if "events" in fields:
        events = fields["events"]
        if not isinstance(events, list) or not all(isinstance(e, str) for e in events):
            raise ApiFailure(400, "events: Expected array of strings")
        if not events:
            raise ApiFailure(400, "events: Array must contain at least 1 element(s)")
        unknown = [e for e in events if not is_known(e) and e not in assumed.extra_event_kinds]
        if unknown:
            raise ApiFailure(400, f"events: Invalid enum value(s): {', '.join(unknown)}")
    if "status" in fields and fields["status"] not in STATUSES:
        raise ApiFailure(400, f"status: Invalid enum value. Expected {' | '.join(STATUSES)}")
    if "description" in fields:
        description = fields["description"]
        if not isinstance(description, str):
            raise ApiFailure(400, "description: Expected string")
        if len(description) > DESCRIPTION_MAX:
            raise ApiFailure(
                400, f"description: String must contain at most {DESCRIPTION_MAX} character(s)"
            )
    return fields


def _check_url(url: Any, url_max: int) -> None:
    if not isinstance(url, str):
        raise ApiFailure(400, "url: Expected string")
    if len(url) > url_max:
        raise ApiFailure(400, f"url: String must contain at most {url_max} character(s)")
    try:
        parts = urlsplit(url)
        hostname = parts.hostname
        parts.port  # noqa: B018 - raises on a port that is not a number in range
    except ValueError:  # e.g. `https://[::1/x`: an unclosed IPv6 bracket
        raise ApiFailure(400, "url: Invalid url") from None
    if parts.scheme not in ("http", "https") or not hostname or " " in url:
        raise ApiFailure(400, "url: Invalid url")


def action_init_body(body: Any) -> dict[str, Any]:
    fields = require_object(
        body,
        {
            "userActionPayload",
            "userActionHttpMethod",
            "userActionHttpPath",
            "userActionServerKind",
        },
        "auth/action/init",
    )
    for name in ("userActionPayload", "userActionHttpMethod", "userActionHttpPath"):
        if not isinstance(fields.get(name), str):
            raise ApiFailure(400, f"{name}: Required string")
    if fields["userActionHttpMethod"] not in USER_ACTION_METHODS:
        raise ApiFailure(
            400,
            f"userActionHttpMethod: Invalid enum value. Expected {' | '.join(USER_ACTION_METHODS)}",
        )
    path = fields["userActionHttpPath"]
    if not path.startswith("/") or "?" in path:
        raise ApiFailure(400, "userActionHttpPath: must be an absolute path without a query")
    if fields.get("userActionServerKind", "Api") not in ("Api", "Staff"):
        raise ApiFailure(400, "userActionServerKind: Invalid enum value")
    return fields


def action_body(body: Any) -> tuple[str, dict[str, Any]]:
    fields = require_object(
        body, {"challengeIdentifier", "firstFactor", "secondFactor"}, "auth/action"
    )
    identifier = fields.get("challengeIdentifier")
    if not isinstance(identifier, str) or not identifier:
        raise ApiFailure(400, "challengeIdentifier: Required")
    factor = fields.get("firstFactor")
    if not isinstance(factor, dict):
        raise ApiFailure(400, "firstFactor: Required")
    if factor.get("kind") != "Key":
        raise ApiFailure(400, "firstFactor.kind: only Key credentials are emulated")
    assertion = factor.get("credentialAssertion")
    if not isinstance(assertion, dict):
        raise ApiFailure(400, "firstFactor.credentialAssertion: Required")
    allowed = {"credId", "clientData", "signature", "algorithm"}
    unknown = sorted(set(assertion) - allowed)
    if unknown:
        raise ApiFailure(400, f"credentialAssertion: unrecognized key(s): {', '.join(unknown)}")
    for name in ("credId", "clientData", "signature"):
        if not isinstance(assertion.get(name), str):
            raise ApiFailure(400, f"credentialAssertion.{name}: Required string")
    return identifier, assertion


def refuse_lone_surrogates(body: bytes) -> None:
    """400 for a JSON body holding a lone surrogate, in a key or a value, at any depth.

    Checked before routing, so before a user action is spent: such text cannot be stored
    or sent on as UTF-8 (it was a 500 `UnicodeEncodeError` after the token was spent).
    A body that is not JSON is left to the route, which refuses it as such.
    """
    if not body:
        return
    try:
        value = json.loads(body)
    except (ValueError, RecursionError):
        return
    pending = [value]
    while pending:  # iterative: json.loads took the depth, the check must too
        item = pending.pop()
        if isinstance(item, str):
            if _SURROGATE.search(item):
                raise ApiFailure(400, LONE_SURROGATE_MESSAGE)
        elif isinstance(item, dict):
            pending.extend(item)
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
