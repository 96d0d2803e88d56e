"""Where the provider's settings come from: stack config first, then the environment.

The provider reads these in its own process (`configure`), never at program time, so
no credential is ever pickled into the `__provider` property of a resource's state.
"""

from __future__ import annotations

import ipaddress
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TypedDict
from urllib.parse import urlsplit

from .errors import DfnsSettingsError
from .redact import shown_url

if TYPE_CHECKING:
    # signing imports `cryptography`, which only loading a key needs: a program that
    # declares a DfnsWebhook imports this module (through the provider) and never
    # loads a key (tests/test_start_imports.py). The functions import it when called.
    from .signing import Credential, SignableKey

DEFAULT_API_URL = "https://api.dfns.io"
# Upper bounds of the numeric settings: beyond them a value is a typo (or `inf`), and
# would only fail later, far from the setting (a 1e308 s timeout overflows the socket).
MAX_TIMEOUT = 600.0
MAX_RETRY_TIMEOUT = 3600.0
MAX_ATTEMPTS_LIMIT = 10
# Lower bounds: below them a value is a typo (`1e-9`) that makes every call time out or
# never retry, far from the setting. 0.1 s is less than any TLS handshake to Dfns takes.
MIN_TIMEOUT = 0.1
MIN_RETRY_TIMEOUT = 0.1
# A number as a person writes one: digits, one optional point, an optional exponent.
# Python's float() also reads "1_0" as 10, non-ASCII digits, "inf" and "nan": refused.
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
# A Dfns event kind: lowercase words joined by dots (`wallet.transfer.confirmed`).
_EVENT_KIND = re.compile(r"[a-z][a-z0-9_]*(?:\.[a-z0-9_]+)+")


@dataclass(frozen=True)
class Setting:
    """One setting: its stack config key and its environment fallback."""

    key: str
    env: str
    secret: bool = False

    @property
    def config_key(self) -> str:
        return f"dfns:{self.key}"

    def how_to_set(self) -> str:
        flag = " --secret" if self.secret else ""
        return f"`pulumi config set{flag} {self.config_key} ...` or the {self.env} variable"


API_URL = Setting("apiUrl", "DFNS_API_URL")
AUTH_TOKEN = Setting("authToken", "DFNS_AUTH_TOKEN", secret=True)
CREDENTIAL_ID = Setting("credentialId", "DFNS_CREDENTIAL_ID")
PRIVATE_KEY = Setting("privateKey", "DFNS_PRIVATE_KEY", secret=True)
PRIVATE_KEY_FILE = Setting("privateKeyFile", "DFNS_PRIVATE_KEY_FILE")
PRIVATE_KEY_PASSPHRASE = Setting("privateKeyPassphrase", "DFNS_PRIVATE_KEY_PASSPHRASE", True)
CONNECT_TIMEOUT = Setting("connectTimeout", "DFNS_CONNECT_TIMEOUT")
READ_TIMEOUT = Setting("readTimeout", "DFNS_READ_TIMEOUT")
MAX_ATTEMPTS = Setting("maxAttempts", "DFNS_MAX_ATTEMPTS")
RETRY_TIMEOUT = Setting("retryTimeout", "DFNS_RETRY_TIMEOUT")
# Event kinds Dfns added after pulumi-dfns's catalogue: taken as known by check.
EXTRA_EVENT_KINDS = Setting("extraEventKinds", "DFNS_EXTRA_EVENT_KINDS")

ALL_SETTINGS = (
    API_URL,
    AUTH_TOKEN,
    CREDENTIAL_ID,
    PRIVATE_KEY,
    PRIVATE_KEY_FILE,
    PRIVATE_KEY_PASSPHRASE,
    CONNECT_TIMEOUT,
    READ_TIMEOUT,
    MAX_ATTEMPTS,
    RETRY_TIMEOUT,
    EXTRA_EVENT_KINDS,
)


@dataclass(frozen=True)
class ClientSettings:
    """Everything the Dfns client needs. Secrets are kept out of repr()."""

    api_url: str
    auth_token: str = field(repr=False)
    credential: Credential | None = field(default=None, repr=False)
    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    # Retries (used by the client's retry policy): attempts per call, and the total
    # time one call may spend retrying.
    max_attempts: int = 4
    retry_timeout: float = 60.0
    # Event kinds check takes as known besides the catalogue (dfns:extraEventKinds).
    extra_event_kinds: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        object.__setattr__(self, "api_url", check_api_url(self.api_url))
        check_auth_token(self.auth_token)


def check_auth_token(token: str) -> None:
    """Refuse a token no HTTP header can carry, before any request is built with it.

    A token pasted with a trailing newline or a space would otherwise fail inside the
    HTTP library, looking like a lost request. The token itself is never echoed.
    """
    if not token:
        raise DfnsSettingsError(
            AUTH_TOKEN.config_key, f"the auth token is empty; set it with {AUTH_TOKEN.how_to_set()}"
        )
    bad = [c for c in token if not ("!" <= c <= "~")]
    if bad:
        what = "whitespace or a line break" if any(c.isspace() for c in bad) else "a character"
        raise DfnsSettingsError(
            AUTH_TOKEN.config_key,
            f"the auth token holds {what} that an HTTP header cannot carry (a bearer token "
            "is printable ASCII without spaces); set it again without it, with "
            + AUTH_TOKEN.how_to_set(),
        )


def is_loopback(host: str) -> bool:
    """A loopback address, or the name `localhost` itself. Not any `*.localhost`: RFC 6761
    asks resolvers to answer those with loopback, but a resolver that sends them to DNS
    could point one off the machine, and plain http (and no proxy) is allowed here only
    because the bearer token never leaves the machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_api_url(url: str, setting: str = API_URL.config_key) -> str:
    """Normalise the API URL; refuse what cannot work before anything is sent.

    Plain http off loopback is refused (the token would travel in clear); so is a port
    that is not a number from 1 to 65535, and a user name or password in the URL
    (requests would send it as HTTP Basic in place of the bearer token). The URL is
    echoed only with userinfo hidden.
    """
    # A value that fails the format check is not shown: it may be a token pasted in
    # the wrong place. Nor is urlsplit's exception text: it quotes the url's parts.
    example = f"use one such as {DEFAULT_API_URL}"
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname
        port = parts.port
    except ValueError:
        raise DfnsSettingsError(
            setting, f"is not a valid URL: its host or port cannot be read; {example}"
        ) from None
    if parts.scheme not in ("http", "https") or not host:
        raise DfnsSettingsError(setting, f"is not an http(s) URL with a host; {example}")
    shown = shown_url(url.strip())
    # An `@` anywhere before the query ends a userinfo for some url parsers, even after
    # a `/` (`https://ops:123/x@api.dfns.io`): no Dfns API url holds one.
    if "@" in re.split(r"[?#]", url, maxsplit=1)[0]:
        raise DfnsSettingsError(
            setting,
            f"{shown} carries a user name or password; remove it: Dfns is called with the "
            "bearer token of dfns:authToken, and userinfo would replace it with HTTP Basic",
        )
    if port == 0 or parts.netloc.endswith(":"):
        raise DfnsSettingsError(setting, f"{shown}: the port must be a number from 1 to 65535")
    if parts.scheme == "http" and not is_loopback(host):
        raise DfnsSettingsError(
            setting,
            f"plain http is refused for {host}: the bearer token would cross the "
            "network unencrypted; use https (plain http is allowed only on loopback)",
        )
    if parts.query or parts.fragment:
        raise DfnsSettingsError(setting, "the API URL must not carry a query or fragment")
    return f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"


def lookup(setting: Setting, config: Mapping[str, object], env: Mapping[str, str]) -> str | None:
    """The setting's text: stack config first, then its variable; empty counts as unset."""
    value = config.get(setting.config_key)
    if value is None or value == "":
        value = env.get(setting.env)
    if value is None or value == "":
        return None
    return str(value)


def _number(
    setting: Setting,
    config: Mapping[str, object],
    env: Mapping[str, str],
    default: float,
    least: float,
    most: float,
) -> float:
    text = lookup(setting, config, env)
    if text is None:
        return default
    if not _NUMBER.fullmatch(text.strip()):
        # Not echoed: a value that is not a number may be a secret pasted in the wrong place.
        what = "a finite number" if text.strip().lower().lstrip("+-") in _NON_FINITE else "a number"
        raise DfnsSettingsError(
            setting.config_key,
            f"is not {what} written with digits (such as 30 or 2.5, without `_` or spaces)",
        )
    value = float(text)
    if not math.isfinite(value):  # 1e999
        raise DfnsSettingsError(setting.config_key, f"must be a finite number, got {text}")
    if value < least:
        raise DfnsSettingsError(setting.config_key, f"must be at least {least:g}, got {text}")
    if value > most:
        raise DfnsSettingsError(setting.config_key, f"must be at most {most:g}, got {text}")
    return value


_NON_FINITE = ("inf", "infinity", "nan")


def parse_event_kinds(
    text: str | None, setting: str = EXTRA_EVENT_KINDS.config_key
) -> frozenset[str]:
    """The kinds of a comma-separated list (dfns:extraEventKinds); blanks are skipped."""
    if text is None:
        return frozenset()
    kinds = [k.strip() for k in text.split(",")]
    for position, kind in enumerate(kinds, 1):
        if kind and not _EVENT_KIND.fullmatch(kind):
            raise DfnsSettingsError(
                setting,
                f"entry {position} is not an event kind: a kind is lowercase words joined by "
                "dots, such as wallet.created; separate kinds with commas",
            )
    return frozenset(k for k in kinds if k)


def _required(setting: Setting, config: Mapping[str, object], env: Mapping[str, str]) -> str:
    value = lookup(setting, config, env)
    if value is None:
        raise DfnsSettingsError(setting.config_key, f"not set; set it with {setting.how_to_set()}")
    return value


def load_settings(
    config: Mapping[str, object], env: Mapping[str, str] | None = None
) -> ClientSettings:
    """Build settings from stack config (namespaced `dfns:` keys), falling back to env.

    Raises DfnsSettingsError naming the first unusable setting and how to set it.
    """
    env = os.environ if env is None else env
    api_url = check_api_url(lookup(API_URL, config, env) or DEFAULT_API_URL)
    token = _required(AUTH_TOKEN, config, env)
    check_auth_token(token)
    credential_id = check_credential_id(_required(CREDENTIAL_ID, config, env))
    key = _private_key(config, env)
    from .signing import Credential

    return ClientSettings(
        api_url=api_url,
        auth_token=token,
        credential=Credential(credential_id, key),
        **load_limits(config, env),
        extra_event_kinds=parse_event_kinds(lookup(EXTRA_EVENT_KINDS, config, env)),
    )


def check_credential_id(value: str) -> str:
    """A credentialId has base64url's shape; anything else is refused without being shown
    (a token or key pasted here would otherwise be echoed at the first change)."""
    from .signing import CREDENTIAL_ID_SHAPE

    if not CREDENTIAL_ID_SHAPE.fullmatch(value):
        raise DfnsSettingsError(
            CREDENTIAL_ID.config_key,
            "is not a credentialId: one is base64url text (letters, digits, `-` and `_`, "
            "such as Y2kt...), the signing key's Cred ID in the Dfns dashboard; the value is "
            "not shown, as it may be a secret pasted in the wrong place",
        )
    return value


def key_source(config: Mapping[str, object], env: Mapping[str, str]) -> tuple[Setting, str]:
    """Where the private key comes from, as ONE setting: (which form, its value).

    Stack config first, in either form (dfns:privateKey, else dfns:privateKeyFile), then
    the environment (DFNS_PRIVATE_KEY, else DFNS_PRIVATE_KEY_FILE): a DFNS_PRIVATE_KEY in
    the shell never beats the privateKeyFile a stack names (it did, when each form was
    looked up in config and then the environment on its own).
    """
    for form in (PRIVATE_KEY, PRIVATE_KEY_FILE):
        value = config.get(form.config_key)
        if value is not None and value != "":
            return form, str(value)
    for form in (PRIVATE_KEY, PRIVATE_KEY_FILE):
        text = env.get(form.env)
        if text:
            return form, text
    raise DfnsSettingsError(
        PRIVATE_KEY.config_key,
        f"no private key: set {PRIVATE_KEY.how_to_set()}, or {PRIVATE_KEY_FILE.config_key} "
        f"(a PEM file path) or the {PRIVATE_KEY_FILE.env} variable",
    )


def _private_key(config: Mapping[str, object], env: Mapping[str, str]) -> SignableKey:
    from .signing import key_file_contents, load_private_key

    form, value = key_source(config, env)
    # The passphrase comes from where the key came from: a DFNS_PRIVATE_KEY_PASSPHRASE in
    # the shell is not the passphrase of the key a stack names (nor the reverse).
    from_config = config.get(form.config_key) not in (None, "")
    passphrase = (
        lookup(PRIVATE_KEY_PASSPHRASE, config, {})
        if from_config
        else lookup(PRIVATE_KEY_PASSPHRASE, {}, env)
    )
    if form is PRIVATE_KEY:
        return load_private_key(value, passphrase, setting=PRIVATE_KEY.config_key)
    setting = PRIVATE_KEY_FILE.config_key
    # The value is never echoed: a private key given here by mistake is PEM text.
    if "-----BEGIN" in value or "\n" in value or "\r" in value:
        raise DfnsSettingsError(
            setting,
            "holds PEM text, not a path: give the key itself with "
            f"{PRIVATE_KEY.how_to_set()}, and unset {setting} (it takes a file's path)",
        )
    try:
        raw = Path(value).expanduser().read_bytes()
    except OSError as exc:
        raise DfnsSettingsError(
            setting, f"cannot read the file it names: {exc.strerror or type(exc).__name__}"
        ) from None
    except ValueError:  # a NUL in the path: no file can have that name
        raise DfnsSettingsError(
            setting, "is not a file's path (it holds a NUL character); the value is not shown"
        ) from None
    # Bytes, not text: a UTF-16 PEM (PowerShell's `>`) or a DER key is not UTF-8.
    data, der = key_file_contents(raw, setting)
    return load_private_key(data, passphrase, setting=setting, der=der)


class Limits(TypedDict):
    """The timeouts and retry budget of ClientSettings, as every reader of settings
    parses them (the provider and the audit command alike)."""

    connect_timeout: float
    read_timeout: float
    max_attempts: int
    retry_timeout: float


def load_limits(config: Mapping[str, object], env: Mapping[str, str]) -> Limits:
    attempts = _number(MAX_ATTEMPTS, config, env, 4, 1, MAX_ATTEMPTS_LIMIT)
    if attempts != int(attempts):
        raise DfnsSettingsError(MAX_ATTEMPTS.config_key, "must be a whole number")
    return Limits(
        connect_timeout=_number(CONNECT_TIMEOUT, config, env, 5.0, MIN_TIMEOUT, MAX_TIMEOUT),
        read_timeout=_number(READ_TIMEOUT, config, env, 30.0, MIN_TIMEOUT, MAX_TIMEOUT),
        max_attempts=int(attempts),
        retry_timeout=_number(
            RETRY_TIMEOUT, config, env, 60.0, MIN_RETRY_TIMEOUT, MAX_RETRY_TIMEOUT
        ),
    )
