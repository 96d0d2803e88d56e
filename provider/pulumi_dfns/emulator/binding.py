"""How a user action token binds to the request it is spent on.

The docs define `userActionPayload` as "the JSON-encoded body of the request"
(dfns/dfns-api-docs api-docs/authentication/user-action-signing/initUserActionSigning.md);
no source says Dfns compares raw bytes, and the official SDKs send other bytes than they
sign:

- dfns-sdk (Python) 1.0.4 signs `json.dumps(body, separators=(",", ":"))` (ASCII
  escapes), or `""` when the body is empty or `{}`, and sends httpx's `json=` encoding
  (UTF-8; spaced JSON before httpx 0.28): dfns_sdk/_internal/http_client.py.
- dfns-sdk-java signs `{}` when there is no body and then sends none (DELETE, ping):
  src/main/java/co/dfns/sdk/internal/DfnsHttpClient.java, obtainUserActionToken and
  buildRequest.
- dfns-sdk-go signs and sends the same `json.Marshal` bytes, and `""` with no body:
  internal/client/client.go, Do and createUserActionChallenge.

So the emulator compares JSON *values*: the same value in any formatting or escaping
binds; no body, `""` and `{}` are one value (no fields). Any other value is refused.
Values are compared strictly: `true` is not `1`, numbers compare as decimals (so
`1` and `1.0` are one number, as in JavaScript, but no float rounding merges two),
and an object with a repeated key never binds (parsers disagree on which one wins).
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

_EMPTY_OBJECT: tuple[str, tuple[Any, ...]] = ("object", ())


class _Unbindable(ValueError):
    """Text that is no JSON value, or one a server could read two ways."""


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        raise _Unbindable("repeated key")
    return dict(pairs)


def _no_constants(name: str) -> Any:
    raise _Unbindable(f"{name} is not JSON")


def _canonical(value: Any) -> Any:
    if isinstance(value, dict):
        return ("object", tuple(sorted((k, _canonical(v)) for k, v in value.items())))
    if isinstance(value, list):
        return ("array", tuple(_canonical(v) for v in value))
    if isinstance(value, bool):  # before numbers: bool is an int in Python
        return ("bool", value)
    if isinstance(value, Decimal):
        return ("number", value.normalize())
    if value is None:
        return ("null",)
    return ("string", value)


def json_value(text: str | bytes) -> Any:
    """The comparable value of a payload or body; raises ValueError when it has none."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise _Unbindable("not UTF-8") from None
    if not text.strip():
        return _EMPTY_OBJECT
    parsed = json.loads(
        text,
        object_pairs_hook=_no_duplicates,
        parse_float=Decimal,
        parse_int=Decimal,
        parse_constant=_no_constants,
    )
    return _canonical(parsed)


def binds(signed_payload: str, body: bytes) -> bool:
    """Whether a body sent is the JSON value that was signed."""
    try:
        return bool(json_value(signed_payload) == json_value(body))
    except (ValueError, ArithmeticError, RecursionError):
        # Not JSON, a repeated key, a number beyond any decimal, or absurd nesting.
        return False
