"""Verifying the deliveries Dfns POSTs to a webhook's url.

Dfns signs each delivery with `X-DFNS-WEBHOOK-SIGNATURE: sha256=<hex HMAC-SHA256 of the
raw body, keyed with the webhook secret>`. There is no timestamp header: freshness
comes from the body's `timestampSent` (unix seconds).

A receiver may know several secrets at once (the old and the new webhook's during a
rotation): a delivery passes when any of them signed it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import time
from collections.abc import Sequence
from typing import Any, TypeAlias

SIGNATURE_HEADER = "X-DFNS-WEBHOOK-SIGNATURE"
_PREFIX = "sha256="

Secret: TypeAlias = str | bytes
Secrets: TypeAlias = Secret | Sequence[Secret]


class DeliveryVerificationError(Exception):
    """A delivery failed verification; the message says which check failed."""


Body: TypeAlias = bytes | bytearray | memoryview | str


def _as_bytes(body: object) -> bytes:
    """The raw body: text as UTF-8, any bytes-like object (a framework's memoryview or
    bytearray) as its bytes."""
    if isinstance(body, str):
        return body.encode("utf-8")
    if isinstance(body, bytes | bytearray | memoryview):
        return bytes(body)
    raise DeliveryVerificationError(
        f"the body must be the raw request body (bytes or text), got {type(body).__name__}"
    )


def _header_text(header: object) -> str:
    """The signature header as text: frameworks hand headers over as str or bytes."""
    if isinstance(header, bytes | bytearray | memoryview):
        # Non-ASCII bytes become U+FFFD, which the format check then refuses.
        return bytes(header).decode("ascii", "replace")
    if isinstance(header, str):
        return header
    raise DeliveryVerificationError(
        f"the {SIGNATURE_HEADER} header must be text or bytes, got {type(header).__name__}"
    )


def _key(secret: object) -> bytes:
    """The HMAC key: a text secret as its UTF-8 bytes (as Dfns keys it), bytes as given."""
    if isinstance(secret, str):
        return secret.encode("utf-8")
    if isinstance(secret, bytes | bytearray | memoryview):
        return bytes(secret)
    raise DeliveryVerificationError(
        f"a webhook secret must be text or bytes, got {type(secret).__name__}"
    )


def _keys(secret: Secrets) -> list[bytes]:
    """Every usable key in `secret` (one secret, or a sequence of them)."""
    if secret is None:
        raise DeliveryVerificationError("no webhook secret given to verify with")
    candidates: Sequence[Any]
    if isinstance(secret, str | bytes | bytearray | memoryview):
        candidates = [secret]
    elif isinstance(secret, Sequence):
        candidates = secret
    else:
        raise DeliveryVerificationError(
            f"secret must be text, bytes or a list of them, got {type(secret).__name__}"
        )
    # Empty entries are skipped: a list built from outputs may hold an adopted
    # webhook's empty secret beside real ones.
    keys = [_key(c) for c in candidates if c is not None]
    keys = [k for k in keys if k]
    if not keys:
        raise DeliveryVerificationError("no webhook secret given to verify with")
    return keys


def _check_tolerance(tolerance: Any) -> float:
    """A negative, NaN or infinite tolerance would silently turn replay protection off
    (every timestamp is within an infinite tolerance): refuse it."""
    if isinstance(tolerance, bool) or not isinstance(tolerance, int | float):
        raise ValueError(
            f"tolerance must be a number of seconds (0 turns the freshness check off), "
            f"got {type(tolerance).__name__}"
        )
    if not math.isfinite(tolerance) or tolerance < 0:
        raise ValueError(
            f"tolerance must be a finite number of seconds, 0 or more (0 turns the "
            f"freshness check off), got {tolerance!r}"
        )
    return float(tolerance)


def sign_delivery(body: Body, secret: Secret) -> str:
    """The header value Dfns would send for `body`: for tests, fixtures and emulators."""
    digest = hmac.new(_key(secret), _as_bytes(body), hashlib.sha256).hexdigest()
    return _PREFIX + digest


def verify_delivery(
    body: Body,
    signature_header: str | bytes | None,
    secret: Secrets,
    tolerance: float = 300,
    now: float | None = None,
) -> dict[str, Any]:
    """Check a delivery's signature and freshness; return the parsed event.

    `secret` is one webhook secret or a sequence of them (text or bytes): the delivery
    passes when any of them signed it. Every secret is compared, in constant time, so
    the time taken does not tell which one matched, or how far a forgery got.
    `body` must be the raw request body, byte for byte: re-serialised JSON will not match.
    `tolerance` (seconds, Dfns suggests 5 minutes) bounds how far `timestampSent` may
    be from now; 0 skips the freshness check (not recommended); a negative, NaN or
    infinite value raises ValueError. `body` may be bytes, any bytes-like object or
    text; the header text or bytes.
    """
    tolerance = _check_tolerance(tolerance)
    keys = _keys(secret)
    if signature_header is None:
        raise DeliveryVerificationError(f"missing {SIGNATURE_HEADER} header")
    header = _header_text(signature_header).strip()
    if not header:
        raise DeliveryVerificationError(f"missing {SIGNATURE_HEADER} header")
    digits = header[len(_PREFIX) :]
    if (
        not header.startswith(_PREFIX)
        or len(digits) != 64
        or any(c not in "0123456789abcdefABCDEF" for c in digits)
    ):
        raise DeliveryVerificationError(
            f"malformed {SIGNATURE_HEADER} header: expected 'sha256=' and 64 hex digits"
        )
    given = digits.lower().encode("ascii")
    raw = _as_bytes(body)
    matched = False
    for key in keys:
        expected = hmac.new(key, raw, hashlib.sha256).hexdigest().encode("ascii")
        # No early exit: every key costs the same whatever the outcome.
        matched |= hmac.compare_digest(expected, given)
    if not matched:
        raise DeliveryVerificationError("signature mismatch: wrong secret or altered body")
    try:
        event = json.loads(raw)
    except ValueError:
        raise DeliveryVerificationError("the body is not JSON") from None
    if not isinstance(event, dict):
        raise DeliveryVerificationError("the body is not a JSON object")
    if tolerance > 0:
        sent = event.get("timestampSent")
        if not isinstance(sent, int | float) or isinstance(sent, bool) or not math.isfinite(sent):
            raise DeliveryVerificationError("the event has no numeric timestampSent")
        current = time.time() if now is None else now
        if not abs(current - sent) <= tolerance:
            raise DeliveryVerificationError(
                f"stale delivery: timestampSent is {abs(current - sent):.0f}s from now "
                f"(tolerance {tolerance:g}s)"
            )
    return event
