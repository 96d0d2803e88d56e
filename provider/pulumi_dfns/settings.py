"""Where the provider's settings come from: stack config first, then the environment.

The provider reads these in its own process (`configure`), never at program time, so
no credential is ever pickled into the `__provider` property of a resource's state.
"""

from __future__ import annotations

import ipaddress
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from .errors import DfnsSettingsError
from .redact import shown_url
from .signing import Credential, load_private_key

DEFAULT_API_URL = "https://api.dfns.io"
# Upper bounds of the numeric settings: beyond them a value is a typo (or `inf`), and
# would only fail later, far from the setting (a 1e308 s timeout overflows the socket).
MAX_TIMEOUT = 600.0
MAX_RETRY_TIMEOUT = 3600.0
MAX_ATTEMPTS_LIMIT = 10


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


def _is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
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
    shown = shown_url(url.strip())
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname
        port = parts.port
    except ValueError as exc:
        raise DfnsSettingsError(
            setting, f"{shown} is not a valid URL ({exc}); use one such as {DEFAULT_API_URL}"
        ) from None
    if parts.scheme not in ("http", "https") or not host:
        raise DfnsSettingsError(setting, f"{shown} is not an http(s) URL such as {DEFAULT_API_URL}")
    if "@" in parts.netloc:
        raise DfnsSettingsError(
            setting,
            f"{shown} carries a user name or password; remove it: Dfns is called with the "
            "bearer token of dfns:authToken, and userinfo would replace it with HTTP Basic",
        )
    if port == 0 or parts.netloc.endswith(":"):
        raise DfnsSettingsError(setting, f"{shown}: the port must be a number from 1 to 65535")
    if parts.scheme == "http" and not _is_loopback(host):
        raise DfnsSettingsError(
            setting,
            f"plain http is refused for {host}: the bearer token would cross the "
            "network unencrypted; use https (plain http is allowed only on loopback)",
        )
    if parts.query or parts.fragment:
        raise DfnsSettingsError(setting, "the API URL must not carry a query or fragment")
    return f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"


def _lookup(setting: Setting, config: Mapping[str, object], env: Mapping[str, str]) -> str | None:
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
    most: float,
) -> float:
    text = _lookup(setting, config, env)
    if text is None:
        return default
    try:
        value = float(text)
    except ValueError:
        raise DfnsSettingsError(setting.config_key, f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise DfnsSettingsError(setting.config_key, f"must be a finite number, got {text}")
    if value <= 0:
        raise DfnsSettingsError(setting.config_key, f"must be greater than 0, got {text}")
    if value > most:
        raise DfnsSettingsError(setting.config_key, f"must be at most {most:g}, got {text}")
    return value


def _required(setting: Setting, config: Mapping[str, object], env: Mapping[str, str]) -> str:
    value = _lookup(setting, config, env)
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
    api_url = check_api_url(_lookup(API_URL, config, env) or DEFAULT_API_URL)
    token = _required(AUTH_TOKEN, config, env)
    check_auth_token(token)
    credential_id = _required(CREDENTIAL_ID, config, env)
    pem = _lookup(PRIVATE_KEY, config, env)
    key_setting = PRIVATE_KEY.config_key
    if pem is None:
        key_file = _lookup(PRIVATE_KEY_FILE, config, env)
        if key_file is None:
            raise DfnsSettingsError(
                key_setting,
                f"no private key: set {PRIVATE_KEY.how_to_set()}, or {PRIVATE_KEY_FILE.config_key} "
                "(a PEM file path)",
            )
        key_setting = PRIVATE_KEY_FILE.config_key
        try:
            pem = Path(key_file).expanduser().read_text()
        except OSError as exc:
            raise DfnsSettingsError(
                key_setting, f"cannot read {key_file}: {exc.strerror or exc}"
            ) from None
    passphrase = _lookup(PRIVATE_KEY_PASSPHRASE, config, env)
    key = load_private_key(pem, passphrase, setting=key_setting)
    attempts = _number(MAX_ATTEMPTS, config, env, 4, MAX_ATTEMPTS_LIMIT)
    if attempts != int(attempts):
        raise DfnsSettingsError(MAX_ATTEMPTS.config_key, "must be a whole number")
    return ClientSettings(
        api_url=api_url,
        auth_token=token,
        credential=Credential(credential_id, key),
        connect_timeout=_number(CONNECT_TIMEOUT, config, env, 5.0, MAX_TIMEOUT),
        read_timeout=_number(READ_TIMEOUT, config, env, 30.0, MAX_TIMEOUT),
        max_attempts=int(attempts),
        retry_timeout=_number(RETRY_TIMEOUT, config, env, 60.0, MAX_RETRY_TIMEOUT),
    )
