"""JSON text as JavaScript's `JSON.stringify(value)` writes it, for delivery bodies.

Which bytes Dfns signs is documented only by example: the 2024 docs' Node receiver
(dfns/dfns-api-docs api-docs/webhooks/README.md, "Verify events are sent from Dfns")
computes the HMAC over `JSON.stringify(eventPayload)` of the parsed body, fed to Node's
`hmac.update(string)`, which encodes it as UTF-8. That check passes only when the body
is exactly what `JSON.stringify` makes of it: compact, non-ASCII characters as
themselves (UTF-8, not `\\uXXXX`), lone surrogates as lowercase `\\udXXX` escapes
(ECMAScript 2019 well-formed stringify), numbers in JavaScript's shortest form
(`1` not `1.0`, `1e-7`, `1e+21`). The emulator sends that, so a receiver that
re-serialises as the docs do and one that checks the raw bytes (verify_delivery) both
pass. Whether Dfns's own bytes are JSON.stringify's is *assumed* (no source shows the
server side); verify_delivery checks the raw body, which is right whatever Dfns sends.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
_ARRAY_INDEX = re.compile("0|[1-9][0-9]*")
# Integers beyond 2**53 are not exact in a JavaScript number.
_SAFE_INTEGER = 2**53


def stringify(value: Any) -> str:
    """`JSON.stringify(value)` for JSON-like Python values (dict keys must be strings)."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value) if abs(value) <= _SAFE_INTEGER else js_number(float(value))
    if isinstance(value, float):
        return js_number(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, dict):
        keys = _js_key_order(list(value))
        return "{" + ",".join(f"{_string(k)}:{stringify(value[k])}" for k in keys) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(stringify(v) for v in value) + "]"
    raise TypeError(f"not a JSON value: {type(value).__name__}")


def _js_key_order(keys: list[str]) -> list[str]:
    """The order of a JavaScript object's own keys (ECMAScript OrdinaryOwnPropertyKeys):
    array indices (canonical integers 0 to 2**32 - 2) first, ascending, then the other
    keys in the order they came (JSON.parse inserts them in text order)."""
    indices = [k for k in keys if _ARRAY_INDEX.fullmatch(k) and int(k) < 2**32 - 1]
    chosen = set(indices)
    return sorted(indices, key=int) + [k for k in keys if k not in chosen]


def _string(text: str) -> str:
    # Python escapes the same characters as JSON.stringify (quote, backslash, control
    # characters, with \b \f \n \r \t short forms and lowercase hex otherwise); a lone
    # surrogate (json.loads keeps one) is escaped as JavaScript does.
    dumped = json.dumps(text, ensure_ascii=False)
    return _LONE_SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", dumped)


def js_number(number: float) -> str:
    """ECMAScript Number::toString (radix 10); NaN and infinities stringify as null."""
    if not math.isfinite(number):
        return "null"
    if number == 0:
        return "0"
    sign = "-" if number < 0 else ""
    # repr gives the shortest digits that round-trip, as ECMAScript asks.
    mantissa, _, exponent = repr(abs(number)).partition("e")
    whole, _, fraction = mantissa.partition(".")
    digits = (whole + fraction).lstrip("0")
    point = len(whole) + int(exponent or 0)  # the decimal point's place in whole+fraction
    point -= len(whole + fraction) - len((whole + fraction).lstrip("0"))
    digits = digits.rstrip("0") or "0"
    k, n = len(digits), point
    if k <= n <= 21:
        text = digits + "0" * (n - k)
    elif 0 < n <= 21:
        text = digits[:n] + "." + digits[n:]
    elif -6 < n <= 0:
        text = "0." + "0" * (-n) + digits
    else:
        rest = "." + digits[1:] if k > 1 else ""
        text = f"{digits[0]}{rest}e{'+' if n - 1 >= 0 else '-'}{abs(n - 1)}"
    return sign + text
