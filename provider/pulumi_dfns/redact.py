"""What of a webhook url a person may read: no credentials, and never all of a long one.

A receiver url can carry credentials (`https://user:pass@host/`, `?token=...`). Errors
and warnings end up in CI logs, so every url the provider (and the audit) shows goes
through `shown_url`, the one redaction of the package: userinfo and query values become
`***`, and a long url is cut.
"""

from __future__ import annotations

import re

# Enough to recognise a receiver; an error never carries a whole 10,000-character url.
SHOWN_MAX = 120
HIDDEN = "***"


def shown_url(url: object) -> str:
    """The url with userinfo and query values hidden, cut to SHOWN_MAX characters.

    Works on text that is not a valid url too.
    """
    text = str(url)
    scheme, sep, rest = text.partition("://")
    if not sep:
        scheme, rest = "", text
    # A password may hold `/` (`ops:Zm9v/YmFy@host`), so the first `/` does not end the
    # userinfo: everything from `://` to the last `@` before the first `?` or `#` is
    # hidden (an `@` in a path hides the host too: too much hidden, never too little).
    query_start = min((i for i in (rest.find(c) for c in "?#") if i >= 0), default=len(rest))
    at = rest.rfind("@", 0, query_start)
    hidden = ""
    if at >= 0:
        hidden, rest = f"{HIDDEN}@", rest[at + 1 :]
    authority_end = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
    authority, tail = hidden + rest[:authority_end], rest[authority_end:]
    path, qmark, query = tail.partition("?")
    fragment = ""
    if "#" in query:
        query, _, fragment = query.partition("#")
        fragment = "#" + HIDDEN
    elif "#" in path:
        path, _, _frag = path.partition("#")
        fragment = "#" + HIDDEN
    if qmark:
        # Names stay (`?token=***` says which parameter held it); a part without `=`
        # (`?s3cr3t`) is all value, so all of it is hidden.
        parts = [part.partition("=") for part in query.split("&") if part]
        query = "&".join(f"{k}={HIDDEN}" if eq else HIDDEN for k, eq, _ in parts) or HIDDEN
    shown = f"{scheme}{sep}{authority}{path}{qmark}{query}{fragment}"
    if len(shown) > SHOWN_MAX:
        return f"{shown[: SHOWN_MAX - 1]}… ({len(text)} characters)"
    return shown


# Any scheme (`ftp://user:pass@host`, `amqp://...`), not only http(s).
_URL_IN_TEXT = re.compile(r"""(?i)\b[a-z][a-z0-9+.-]*://[^\s"'<>]+""")
TEXT_MAX = 500


def shown_text(text: str) -> str:
    """Text from elsewhere (Dfns's error message, a receiver's answer) with every url in
    it shown as `shown_url` shows it, cut to TEXT_MAX characters."""
    redacted = _URL_IN_TEXT.sub(lambda m: shown_url(m.group(0)), text)
    if len(redacted) > TEXT_MAX:
        return f"{redacted[: TEXT_MAX - 1]}…"
    return redacted
