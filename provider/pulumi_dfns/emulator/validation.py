"""Request-body validation, as strict as Dfns's own schema checks."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from ..events import is_known
from .errors import ApiFailure

STATUSES = ("Enabled", "Disabled")
DESCRIPTION_MAX = 256
URL_MAX = 2048


def require_object(body: Any, allowed: set[str], where: str) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ApiFailure(400, f"{where}: body must be a JSON object")
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise ApiFailure(400, f"{where}: unrecognized key(s) in object: {', '.join(unknown)}")
    return body


def webhook_body(body: Any, *, create: bool) -> dict[str, Any]:
    """Validate a create (POST) or update (PUT) body; answer the fields it sets."""
    fields = require_object(body, {"url", "events", "status", "description"}, "webhook")
    if create:
        for name in ("url", "events"):
            if name not in fields:
                raise ApiFailure(400, f"{name}: Required")
    if "url" in fields:
        _check_url(fields["url"])
    if "events" in fields:
        events = fields["events"]
        if not isinstance(events, list) or not all(isinstance(e, str) for e in events):
            raise ApiFailure(400, "events: Expected array of strings")
        if not events:
            raise ApiFailure(400, "events: Array must contain at least 1 element(s)")
        unknown = [e for e in events if not is_known(e)]
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


def _check_url(url: Any) -> None:
    if not isinstance(url, str):
        raise ApiFailure(400, "url: Expected string")
    if len(url) > URL_MAX:
        raise ApiFailure(400, f"url: String must contain at most {URL_MAX} character(s)")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or " " in url:
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
    if fields["userActionHttpMethod"] not in ("POST", "PUT", "DELETE", "PATCH"):
        raise ApiFailure(400, "userActionHttpMethod: Invalid enum value")
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
