"""A Dfns webhook receiver that trusts only deliveries signed with a webhook's secret.

The secrets are the `secret` outputs of DfnsWebhooks (Pulumi secrets). The receiver
accepts a delivery signed with ANY of the secrets it is given, which is how it keeps
working while a secret is rotated (the old and the new webhook deliver side by side).
With the reference project:

    export DFNS_WEBHOOK_SECRETS="$(pulumi stack output webhookSecrets --show-secrets --json \\
        | python3 -c 'import json,sys; print(*filter(None,json.load(sys.stdin).values()),sep=",")')"
    python examples/receiver.py --port 8080

Where the secrets come from:
- `--secret-env NAME` (repeatable): environment variables, each holding one secret or
  several separated by commas or newlines. Default: DFNS_WEBHOOK_SECRETS and
  DFNS_WEBHOOK_SECRET.
- `--secrets-file FILE`: a file in the same format, read again whenever it changes, so
  secrets can be added and removed without a restart (write it atomically: a new file
  renamed over the old one).

- `--unavailable-file FILE`: while FILE exists, every delivery is answered 503 (Dfns
  counts it as failed and retries it later): a consumer down for maintenance.
- `--request-timeout SECONDS` (default 10): the whole request, headers and body, must
  arrive within this time of the connection's opening. A peer that is slower (or
  announces 100 bytes and sends 10) gets 408, or the connection is closed if its
  headers are not in yet: no peer holds a thread for longer.

Answers 200 to a verified delivery (Dfns counts anything else as a failure and retries)
and 401 to one that fails verification; 400 to a request without a usable
Content-Length, 413 to a body above 1 MiB. Dfns's test ping is answered 200 even when it
cannot be verified (a brand-new webhook pings before its secret can reach the
receiver); it carries no data and nothing is done with it. A body signed with a known
secret but without `timestampSent` is answered 200 and not acted on when its kind is
no subscribable event kind (a ping: its payload is undocumented), and refused (401)
otherwise (every real event has one).
"""

from __future__ import annotations

import argparse
import codecs
import io
import json
import math
import os
import re
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from pulumi_dfns import DeliveryVerificationError, verify_delivery
from pulumi_dfns.delivery import SIGNATURE_HEADER
from pulumi_dfns.events import ALL_EVENTS, is_known

PING_KIND = "webhook.ping"
# Far above any Dfns event; a larger body is refused before it is read.
MAX_BODY = 1024 * 1024
# Deliveries are handled on several threads: one line per delivery, never interleaved.
_PRINT_LOCK = threading.Lock()


def say(line: str) -> None:
    with _PRINT_LOCK:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


DEFAULT_SECRET_ENVS = ("DFNS_WEBHOOK_SECRETS", "DFNS_WEBHOOK_SECRET")


def split_secrets(text: str) -> list[str]:
    """Secrets separated by commas or newlines (Dfns secrets hold neither; assumed)."""
    return [part.strip() for part in re.split(r"[,\r\n]+", text) if part.strip()]


class SecretsFileError(Exception):
    """The secrets file cannot be read as text."""


# Byte order marks, longest first (UTF-32 LE's begins with UTF-16 LE's): PowerShell's `>`
# writes UTF-16 with one.
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def read_secrets_file(path: Path) -> list[str]:
    """The secrets of a file: UTF-8, or UTF-8/16/32 with a byte order mark."""
    raw = path.read_bytes()
    encoding = next((name for bom, name in _BOMS if raw.startswith(bom)), "utf-8")
    try:
        return split_secrets(raw.decode(encoding))
    except UnicodeDecodeError:
        # Not the file's bytes: they are secrets.
        raise SecretsFileError(
            f"--secrets-file {path}: not {encoding} text; write it as UTF-8"
        ) from None


class SecretSource:
    """The secrets to verify with: fixed ones from the environment, plus a file's,
    re-read when the file changes."""

    def __init__(self, fixed: list[str], path: Path | None) -> None:
        self.fixed = fixed
        self.path = path
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._from_file: list[str] = []

    def current(self) -> list[str]:
        if self.path is None:
            return self.fixed
        with self._lock:
            try:
                info = self.path.stat()
                stamp = (info.st_mtime_ns, info.st_ino)
                if stamp != self._stamp:
                    self._stamp = stamp
                    self._from_file = read_secrets_file(self.path)
            except OSError:
                self._from_file, self._stamp = [], None
            except SecretsFileError as exc:
                # Said once per version of the file; its secrets are not used until a
                # readable one replaces it.
                say(f"ignoring the secrets file: {exc}")
                self._from_file = []
            return self.fixed + self._from_file


def handle_event(event: dict[str, Any]) -> None:
    """Where a real receiver acts on the event; this one prints it.

    A receiver must be idempotent: Dfns retries (a new event id, `retryOf` naming the
    first), and during a rotation both webhooks deliver the same event (different ids,
    same `kind` and `data`).
    """
    retry = f" retryOf {event['retryOf']}" if event.get("retryOf") else ""
    say(f"accepted {event['kind']} {event['id']} attempt {event.get('deliveryAttempt')}{retry}")


def body_length(header: str | None) -> int | None:
    """The Content-Length to read, or None when it is missing, not a plain decimal
    number, or negative (a negative one would block the read until the peer closes)."""
    text = (header or "").strip()
    if not text.isascii() or not text.isdigit():
        return None
    return int(text)


class DeadlineReader(io.RawIOBase):
    """A connection's bytes, every read bounded by what is left of ONE deadline.

    A per-read timeout (BaseHTTPRequestHandler.timeout) is no bound at all: a peer that
    sends a byte now and then keeps each read short and the thread held for ever.
    Past the deadline a read raises TimeoutError, which http.server answers, while
    headers are read, by closing the connection.
    """

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self.sock = sock
        self.deadline = deadline

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("request deadline passed")
        self.sock.settimeout(left)
        return self.sock.recv_into(buffer)


def make_handler(
    secrets: SecretSource,
    tolerance: float,
    unavailable: Path | None = None,
    request_timeout: float = 10.0,
) -> type[BaseHTTPRequestHandler]:
    class Receiver(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            """One line per delivery is printed below; no access log."""

        def setup(self) -> None:
            super().setup()
            # HTTP/1.0 (the default): one request per connection, so one deadline.
            deadline = time.monotonic() + request_timeout
            self.rfile.close()  # the plain reader setup() made; the socket stays open
            self.rfile = io.BufferedReader(DeadlineReader(self.connection, deadline))

        def do_POST(self) -> None:
            length = body_length(self.headers.get("Content-Length"))
            if length is None:
                say("refused: no usable Content-Length")
                self.close_connection = True
                self._answer(400, b"Content-Length: a number of bytes is required")
                return
            if length > MAX_BODY:
                say(f"refused: body of {length} bytes is above {MAX_BODY}")
                self.close_connection = True
                self._answer(413, b"body too large")
                return
            try:
                body = self.rfile.read(length)
            except TimeoutError:
                body = None
            # The answer's writes get their own bound, not what was left of the deadline.
            self.connection.settimeout(request_timeout)
            if body is None:
                say(f"refused: the body did not arrive within {request_timeout:g}s")
                self.close_connection = True
                self._answer(408, b"request body not received in time")
                return
            if unavailable is not None and unavailable.exists():
                say("unavailable: answered 503 (Dfns retries it)")
                self._answer(503, b"unavailable")
                return
            try:
                event = verify_delivery(
                    body,
                    self.headers.get(SIGNATURE_HEADER),
                    secrets.current(),
                    tolerance=tolerance,
                )
            except DeliveryVerificationError as exc:
                if _is_ping(body):
                    say("ping acknowledged (unverified)")
                    self._answer(200, b"ping")
                    return
                unstamped = _signed_without_timestamp(
                    body, self.headers.get(SIGNATURE_HEADER), secrets.current()
                )
                if unstamped is not None:
                    say(f"acknowledged, not processed: signed {unstamped} without timestampSent")
                    self._answer(200, b"acknowledged")
                    return
                say(f"refused: {exc}")
                self._answer(401, str(exc).encode())
                return
            handle_event(event)
            self._answer(200, b"ok")

        def _answer(self, status: int, text: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(text)))
            self.end_headers()
            self.wfile.write(text)

    return Receiver


def _signed_without_timestamp(body: bytes, header: str | None, secrets: list[str]) -> str | None:
    """The kind of a delivery signed with a known secret but without a numeric
    `timestampSent`, when that kind is no subscribable event kind; else None.

    No source shows what a ping POSTs ("a fake test event", ping-webhook.md), so Dfns's
    ping may lack `timestampSent`. Every source gives real events one (2024
    get-webhook-event.md; the SDKs' types; the current reference), so a signed body of
    a catalogued kind without it is refused (401: Dfns retries it) and never swallowed;
    one of any other kind is a test event: answered 200 so verify_with_ping passes, and
    not acted on, since without a timestamp a replay cannot be told from a fresh send.
    """
    try:
        event = verify_delivery(body, header, secrets, tolerance=0)  # the signature only
    except DeliveryVerificationError:
        return None
    sent = event.get("timestampSent")
    if isinstance(sent, int | float) and not isinstance(sent, bool):
        return None  # it has one: the freshness check itself refused it
    kind = event.get("kind")
    if not isinstance(kind, str) or is_known(kind) or kind == ALL_EVENTS:
        return None
    return kind


def _is_ping(body: bytes) -> bool:
    try:
        parsed = json.loads(body)
    except ValueError:
        return False
    return isinstance(parsed, dict) and parsed.get("kind") == PING_KIND


def _seconds(text: str) -> float:
    value = float(text)
    # `inf` would pass `>= 0` and then break every verification (and so every answer).
    if not math.isfinite(value) or value < 0:  # also refuses NaN
        raise argparse.ArgumentTypeError(f"must be a finite number of seconds >= 0, got {text}")
    return value


def _deadline(text: str) -> float:
    value = _seconds(text)
    if value == 0:
        raise argparse.ArgumentTypeError("must be more than 0 seconds")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument(
        "--secret-env",
        action="append",
        metavar="NAME",
        help="environment variable holding secrets, comma or newline separated (repeatable; "
        f"default: {' and '.join(DEFAULT_SECRET_ENVS)})",
    )
    parser.add_argument(
        "--secrets-file", type=Path, help="file of secrets, re-read when it changes"
    )
    parser.add_argument("--tolerance", type=_seconds, default=300, help="seconds (Dfns: 5 min)")
    parser.add_argument(
        "--unavailable-file",
        type=Path,
        help="while this file exists, answer 503 to every delivery (Dfns retries them)",
    )
    parser.add_argument(
        "--request-timeout",
        type=_deadline,
        default=10.0,
        metavar="SECONDS",
        help="the whole request (headers and body) must arrive within this time (then 408)",
    )
    args = parser.parse_args(argv)
    names = args.secret_env or list(DEFAULT_SECRET_ENVS)
    fixed = [s for name in names for s in split_secrets(os.environ.get(name, ""))]
    source = SecretSource(fixed, args.secrets_file)
    if args.secrets_file is not None:
        try:
            read_secrets_file(args.secrets_file)
        except SecretsFileError as exc:
            print(f"receiver: {exc}", file=sys.stderr)
            return 2
        except OSError as exc:
            # Absent is allowed (secrets may come later); unreadable is said now.
            if args.secrets_file.exists():
                print(
                    f"receiver: --secrets-file {args.secrets_file}: cannot read it "
                    f"({exc.strerror or type(exc).__name__})",
                    file=sys.stderr,
                )
                return 2
    if not source.current() and args.secrets_file is None:
        print(
            f"receiver: set {' or '.join(names)} to the webhook's secret output(s), "
            "or pass --secrets-file",
            file=sys.stderr,
        )
        return 2
    server = ThreadingHTTPServer(
        (args.host, args.port),
        make_handler(source, args.tolerance, args.unavailable_file, args.request_timeout),
    )
    print(
        f"receiver ready at http://{args.host}:{server.server_address[1]} "
        f"({len(source.current())} secret(s))",
        flush=True,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
