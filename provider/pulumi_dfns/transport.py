"""HTTP transport: one pooled, verified, time-bounded connection pool, and answer decoding.

Pooling, TLS and timeouts live here so no call site has to remember them. The pool is
shared by the provider server's worker threads, so it holds more connections than the
server has threads.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter

from . import __version__
from .dfns_clock import parse_date
from .errors import (
    DfnsApiError,
    DfnsError,
    DfnsMalformedResponseError,
    DfnsSettingsError,
    DfnsTransportError,
    api_error_class,
)
from .retry_policy import never_sent
from .settings import is_loopback

USER_AGENT = f"pulumi-dfns/{__version__} python-requests/{requests.__version__}"
# A custom CA bundle, as requests reads it (requests/sessions.py merge_environment_settings).
CA_BUNDLE_VARIABLES = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")
# The dynamic provider server calls from 4 threads; leave head room for a script's own.
POOL_SIZE = 8
# What requests raises before sending anything: a url or header it cannot use.
NOT_SENT = (
    requests.exceptions.InvalidURL,
    requests.exceptions.InvalidHeader,
    requests.exceptions.InvalidSchema,
    requests.exceptions.MissingSchema,
    requests.exceptions.URLRequired,
    requests.exceptions.InvalidProxyURL,
)


def unreadable_bundle(bundle: str) -> str | None:
    """Why OpenSSL cannot load a CA bundle file, or None. urllib3 loads it with the same
    call at the first https request (`load_verify_locations`, util/ssl_.py), where the
    failure would surface as a TLS error naming no setting. A directory is read lazily,
    certificate by certificate, so it is not checked."""
    if os.path.isdir(bundle):
        return None
    import ssl  # only when a bundle is set: the provider's start imports less

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    try:
        context.load_verify_locations(cafile=bundle)
    except ssl.SSLError as exc:
        return str(exc.reason or exc.strerror or "unreadable")
    except (OSError, ValueError) as exc:
        return exc.__class__.__name__
    return None


def _check_bundle(variable: str, bundle: str) -> None:
    """Refuse a CA bundle requests or OpenSSL would fail on at the first https request
    (requests: a bare OSError, "Could not find a suitable TLS CA certificate bundle",
    requests/adapters.py cert_verify; OpenSSL: a TLS error), naming the variable,
    before anything is sent."""
    if not os.path.exists(bundle):
        raise DfnsSettingsError(
            variable,
            f"names {bundle}, which does not exist: point it at a CA bundle file "
            "(or directory), or unset it to use the default CA bundle",
        )
    problem = unreadable_bundle(bundle)
    if problem is not None:
        raise DfnsSettingsError(
            variable,
            f"names {bundle}, which holds no CA certificate OpenSSL can read "
            f"({problem}): point it at a PEM file of CA certificates, or unset it "
            "to use the default CA bundle",
        )


class Transport:
    """requests' connection-pooling adapter, driven directly.

    `Session.request` re-merges settings, cookies and hooks on every call; an API client
    needs none of that (that merging was over a third of the client's CPU per request).
    The environment is read once, here: proxies (HTTPS_PROXY, NO_PROXY) and a custom CA
    bundle, as requests would honour them. ~/.netrc is not read: its credentials would
    replace the bearer token.
    """

    def __init__(self, api_url: str) -> None:
        self.adapter = HTTPAdapter(pool_connections=2, pool_maxsize=POOL_SIZE, max_retries=0)
        parts = urlsplit(api_url)
        if parts.scheme == "http" and is_loopback(parts.hostname or ""):
            # Plain http is allowed only to loopback (settings.check_api_url), and only
            # because nothing leaves the machine: a proxy (HTTP_PROXY) would carry the
            # bearer token across the network in clear text.
            self.proxies: dict[str, str] = {}
        else:
            self.proxies = requests.utils.get_environ_proxies(api_url)
        self.verify: str | bool = True  # never False: TLS is always verified
        variable = next((v for v in CA_BUNDLE_VARIABLES if os.environ.get(v)), None)
        if variable is not None:
            bundle = os.environ[variable]
            # Plain http never reads the bundle (cert_verify is for https only).
            if parts.scheme == "https":
                _check_bundle(variable, bundle)
            self.verify = bundle

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: dict[str, str],
        data: bytes | None,
        params: dict[str, str] | None,
        timeout: tuple[float, float],
    ) -> requests.Response:
        prepared = requests.Request(
            method, url, headers={"User-Agent": USER_AGENT, **headers}, data=data, params=params
        ).prepare()
        return self.adapter.send(
            prepared, timeout=timeout, verify=self.verify, proxies=self.proxies
        )

    def close(self) -> None:
        self.adapter.close()


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any
    headers: dict[str, str]


def send(
    transport: Transport,
    method: str,
    url: str,
    path: str,
    *,
    headers: dict[str, str],
    data: bytes | None,
    params: dict[str, str] | None,
    timeout: tuple[float, float],
) -> Answer:
    """One HTTP exchange. Raises DfnsTransportError when no answer came back."""
    try:
        response = transport.request(
            method, url, headers=headers, data=data, params=params, timeout=timeout
        )
    except requests.exceptions.ConnectTimeout:
        raise DfnsTransportError(
            method, path, "connect timed out: is dfns:apiUrl right?", maybe_applied=False
        ) from None
    except requests.exceptions.ReadTimeout:
        raise DfnsTransportError(
            method, path, f"no answer within {timeout[1]:g}s", maybe_applied=True
        ) from None
    except requests.exceptions.SSLError as exc:
        raise DfnsTransportError(
            method, path, f"TLS failed: {type(exc).__name__}", maybe_applied=False
        ) from None
    except requests.exceptions.ConnectionError as exc:
        # A connection never made (refused, a name that does not resolve) never reached
        # Dfns; anything else (reset, closed mid-answer) may have been acted on. Judged by
        # the exception types in the chain (retry_policy.never_sent), not by their text.
        refused = never_sent(exc)
        reason = (
            f"cannot connect to {url[: len(url) - len(path)]}: is dfns:apiUrl right?"
            if refused
            else "connection closed before the answer"
        )
        raise DfnsTransportError(method, path, reason, maybe_applied=not refused) from None
    except NOT_SENT as exc:
        # Raised while the request was being built or addressed: no byte left this
        # machine, so Dfns cannot have acted (a create recovery must not go looking).
        raise DfnsTransportError(
            method,
            path,
            f"the request could not be built ({type(exc).__name__}): check dfns:apiUrl "
            "and dfns:authToken",
            maybe_applied=False,
        ) from None
    except requests.exceptions.RequestException as exc:
        raise DfnsTransportError(method, path, type(exc).__name__, maybe_applied=True) from None
    body: Any = None
    if response.content:
        try:
            body = response.json()
        except ValueError:
            if response.status_code < 300:
                raise DfnsMalformedResponseError(
                    method, path, response.status_code, "the body is not JSON"
                ) from None
            body = None
    return Answer(response.status_code, body, dict(response.headers))


def retry_after_seconds(headers: dict[str, str], now: float | None = None) -> float | None:
    """How long Dfns asks us to wait: Retry-After (seconds or date), else X-RateLimit-Reset."""
    now = time.time() if now is None else now
    lowered = {k.lower(): v for k, v in headers.items()}
    value = lowered.get("retry-after")
    if value:
        try:
            return max(0.0, float(value))
        except ValueError:
            try:
                return max(0.0, parsedate_to_datetime(value).timestamp() - now)
            except (TypeError, ValueError):
                pass
    reset = lowered.get("x-ratelimit-reset")
    if reset:
        try:
            number = float(reset)
        except ValueError:
            return None
        # Large numbers are epoch seconds; small ones are seconds from now.
        return max(0.0, number - now) if number > 1_000_000_000 else max(0.0, number)
    return None


def answer_date(answer: Answer) -> float | None:
    """The answer's `Date` on Dfns's clock (epoch seconds), if it has one."""
    return parse_date(next((v for k, v in answer.headers.items() if k.lower() == "date"), None))


def error_from(method: str, path: str, answer: Answer) -> DfnsApiError:
    """Turn an error answer into the matching exception, keeping Dfns's message and id."""
    message = ""
    error_id = None
    body = answer.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict):
            message = str(inner.get("message") or "")
            raw_id = inner.get("id") or inner.get("errorId")
            error_id = str(raw_id) if raw_id else None
        elif isinstance(inner, str):
            message = inner
        if answer.status == 202:
            raw_id = body.get("id") or body.get("approvalId")
            error_id = error_id or (str(raw_id) if raw_id else None)
            message = message or f"status {body.get('status', 'pending')}"
    cls = api_error_class(answer.status)
    return cls(
        method,
        path,
        answer.status,
        message,
        error_id,
        retry_after_seconds(answer.headers),
    )


def expect_object(method: str, path: str, answer: Answer, *required: str) -> dict[str, Any]:
    """The answer body as an object holding `required` keys, or a clear error."""
    body = answer.body
    if not isinstance(body, dict):
        raise DfnsMalformedResponseError(method, path, answer.status, "expected a JSON object")
    missing = [k for k in required if k not in body]
    if missing:
        raise DfnsMalformedResponseError(
            method, path, answer.status, f"missing field(s) {', '.join(missing)}"
        )
    return body


def encode_json(body: Any) -> bytes:
    """Serialize a body once: these exact bytes are signed and sent.

    Text holding a lone UTF-16 surrogate has no UTF-8 form: refused before anything is
    signed or sent (the provider's check refuses it earlier, naming the property)."""
    text = json.dumps(body, separators=(",", ":"), ensure_ascii=False)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        raise DfnsError(
            "the request body holds a lone UTF-16 surrogate (an unpaired \\ud800-\\udfff "
            "character): it is not Unicode text; nothing was sent"
        ) from None
