"""Verifying the deliveries Dfns POSTs to a webhook's url.

Dfns signs each delivery with `X-DFNS-WEBHOOK-SIGNATURE: sha256=<hex HMAC-SHA256 of the
raw body, keyed with the webhook secret>`. There is no timestamp header: freshness
comes from the body's `timestampSent` (unix seconds).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

SIGNATURE_HEADER = "X-DFNS-WEBHOOK-SIGNATURE"
_PREFIX = "sha256="


class DeliveryVerificationError(Exception):
    """A delivery failed verification; the message says which check failed."""


def _as_bytes(body: bytes | str) -> bytes:
    return body.encode("utf-8") if isinstance(body, str) else body


def sign_delivery(body: bytes | str, secret: str) -> str:
    """The header value Dfns would send for `body`: for tests, fixtures and emulators."""
    digest = hmac.new(secret.encode("utf-8"), _as_bytes(body), hashlib.sha256).hexdigest()
    return _PREFIX + digest


def verify_delivery(
    body: bytes | str,
    signature_header: str | None,
    secret: str,
    tolerance: float = 300,
    now: float | None = None,
) -> dict[str, Any]:
    """Check a delivery's signature and freshness; return the parsed event.

    `body` must be the raw request body, byte for byte: re-serialised JSON will not match.
    Set `tolerance` to 0 to skip the freshness check (not recommended).
    """
    if not secret:
        raise DeliveryVerificationError("no webhook secret given to verify with")
    if not signature_header:
        raise DeliveryVerificationError(f"missing {SIGNATURE_HEADER} header")
    header = signature_header.strip()
    digits = header[len(_PREFIX) :]
    if (
        not header.startswith(_PREFIX)
        or len(digits) != 64
        or any(c not in "0123456789abcdefABCDEF" for c in digits)
    ):
        raise DeliveryVerificationError(
            f"malformed {SIGNATURE_HEADER} header: expected 'sha256=' and 64 hex digits"
        )
    expected = sign_delivery(body, secret)
    if not hmac.compare_digest(expected, _PREFIX + digits.lower()):
        raise DeliveryVerificationError("signature mismatch: wrong secret or altered body")
    try:
        event = json.loads(_as_bytes(body))
    except ValueError:
        raise DeliveryVerificationError("the body is not JSON") from None
    if not isinstance(event, dict):
        raise DeliveryVerificationError("the body is not a JSON object")
    if tolerance > 0:
        sent = event.get("timestampSent")
        if not isinstance(sent, int | float) or isinstance(sent, bool):
            raise DeliveryVerificationError("the event has no numeric timestampSent")
        current = time.time() if now is None else now
        if abs(current - sent) > tolerance:
            raise DeliveryVerificationError(
                f"stale delivery: timestampSent is {abs(current - sent):.0f}s from now "
                f"(tolerance {tolerance:g}s)"
            )
    return event
