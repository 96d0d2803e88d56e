"""What of a webhook url a person may read: no credentials, and never all of a long one.

A receiver url can carry credentials (`https://user:pass@host/`, `?token=...`). Errors
and warnings end up in CI logs, so every url the provider (and the audit) shows goes
through `shown_url`, the one redaction of the package: userinfo and query values become
`***` (the whole query, unless every part of it is a plain `name=value`), and a long
url is cut.
"""

from __future__ import annotations

import re

# Enough to recognise a receiver; an error never carries a whole 10,000-character url.
SHOWN_MAX = 120
HIDDEN = "***"
# A query parameter's name worth showing: a plain word. Anything else (a part without
# `=`, such as `?<token>`, or a name with `%` escapes, which could hide an `=`) may be
# the secret itself: then the whole query is hidden.
_PLAIN_NAME = re.compile(r"[A-Za-z0-9_.~-]{1,64}")


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
        query = _shown_query(query)
    shown = f"{scheme}{sep}{authority}{path}{qmark}{query}{fragment}"
    if len(shown) > SHOWN_MAX:
        return f"{shown[: SHOWN_MAX - 1]}… ({len(text)} characters)"
    return shown


def _shown_query(query: str) -> str:
    """`name=***` for each part when every part is a plain name, `=` and a value;
    otherwise `***` for the whole query."""
    names = []
    for part in re.split(r"[&;]", query):
        name, equals, _value = part.partition("=")
        if not equals or not _PLAIN_NAME.fullmatch(name):
            return HIDDEN
        names.append(name)
    return "&".join(f"{name}={HIDDEN}" for name in names)


# Any scheme (`ftp://user:pass@host`, `amqp://...`), not only http(s). A url runs to
# the next whitespace: a quote or `<>` does not end it, since a password may hold `'`
# (a sub-delimiter, RFC 3986 section 3.2.1) and a url with `"` is still sent; a url
# quoted in the text takes its closing quote along (shown, or hidden with a query):
# too much hidden, never too little.
_URL_IN_TEXT = re.compile(r"""(?i)\b[a-z][a-z0-9+.-]*://\S+""")
TEXT_MAX = 500


def shown_text(text: str) -> str:
    """Text from elsewhere (Dfns's error message, a receiver's answer) with every url in
    it shown as `shown_url` shows it, cut to TEXT_MAX characters."""
    redacted = _URL_IN_TEXT.sub(lambda m: shown_url(m.group(0)), text)
    if len(redacted) > TEXT_MAX:
        return f"{redacted[: TEXT_MAX - 1]}…"
    return redacted
