"""A Dfns webhook receiver that trusts only deliveries signed with the webhook's secret.

The secret is the `secret` output of a DfnsWebhook (a Pulumi secret). With the
reference project:

    export DFNS_WEBHOOK_SECRET="$(pulumi stack output webhookSecrets --show-secrets --json \\
        | python3 -c 'import json,sys; print(json.load(sys.stdin)["payments"])')"
    python examples/receiver.py --port 8080

Answers 200 to a verified delivery (Dfns counts anything else as a failure and retries)
and 401 to one that fails verification. Dfns's test ping is answered 200 even when it
cannot be verified (a brand-new webhook pings before its secret can reach the
receiver); it carries no data and nothing is done with it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from pulumi_dfns import DeliveryVerificationError, verify_delivery
from pulumi_dfns.delivery import SIGNATURE_HEADER

PING_KIND = "webhook.ping"


def handle_event(event: dict[str, Any]) -> None:
    """Where a real receiver acts on the event; this one prints it."""
    print(
        f"accepted {event['kind']} {event['id']} attempt {event.get('deliveryAttempt')}", flush=True
    )


def make_handler(secret: str, tolerance: float) -> type[BaseHTTPRequestHandler]:
    class Receiver(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            """One line per delivery is printed below; no access log."""

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                event = verify_delivery(
                    body, self.headers.get(SIGNATURE_HEADER), secret, tolerance=tolerance
                )
            except DeliveryVerificationError as exc:
                if _is_ping(body):
                    print("ping acknowledged (unverified)", flush=True)
                    self._answer(200, b"ping")
                    return
                print(f"refused: {exc}", flush=True)
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


def _is_ping(body: bytes) -> bool:
    try:
        parsed = json.loads(body)
    except ValueError:
        return False
    return isinstance(parsed, dict) and parsed.get("kind") == PING_KIND


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--secret-env", default="DFNS_WEBHOOK_SECRET")
    parser.add_argument("--tolerance", type=float, default=300, help="seconds (Dfns: 5 min)")
    args = parser.parse_args(argv)
    secret = os.environ.get(args.secret_env)
    if not secret:
        print(f"receiver: set {args.secret_env} to the webhook's secret output", file=sys.stderr)
        return 2
    server = ThreadingHTTPServer((args.host, args.port), make_handler(secret, args.tolerance))
    print(f"receiver ready at http://{args.host}:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
