"""`python -m pulumi_dfns.emulator`: serve a local Dfns API until interrupted."""

from __future__ import annotations

import argparse
import math
import signal
import sys
from pathlib import Path
from types import FrameType

from ..signing import KEY_TYPES
from .assumed import Assumed
from .server import EmulatorConfig, EmulatorServer

ASSUMED = Assumed()
# The assumed values given as one option each (--challenge-ttl for challenge_ttl), with
# Assumed's value as the default: (field, type, help).
ASSUMED_OPTIONS: tuple[tuple[str, type, str], ...] = (
    ("challenge_ttl", float, "seconds an /auth/action/init challenge lives"),
    ("user_action_ttl", float, "seconds a user action token lives"),
    ("webhook_limit_status", int, "HTTP status of a create past the webhook limit"),
    ("webhook_limit_message", str, "its message ({limit} is replaced by --max-webhooks)"),
    ("url_max", int, "longest webhook url accepted"),
    ("delivery_timeout", float, "seconds a delivery waits for the receiver"),
    ("ping_kind", str, "event kind of the ping's test event"),
)


def parse_args(argv: list[str] | None = None) -> EmulatorConfig:
    parser = argparse.ArgumentParser(
        prog="dfns-emulator",
        description="A local Dfns API (webhooks, User Action Signing) for trying and testing.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=0, help="port (0 = any free port)")
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path(".dfns-emulator"),
        help="where state (SQLite) and credentials.json live; a restart loses nothing",
    )
    parser.add_argument(
        "--max-webhooks", type=int, default=5, help="webhooks per organisation (Dfns: 5)"
    )
    parser.add_argument(
        "--key-type",
        choices=KEY_TYPES,
        default="ed25519",
        help="key type of the credential made on first start",
    )
    parser.add_argument(
        "--rate-limit", type=int, default=1000, help="requests per organisation per 60 s"
    )
    parser.add_argument(
        "--delivery-time-scale",
        type=float,
        default=1.0,
        help="multiplies Dfns's delivery retry schedule (1 min, 12 min, 2 h, 1 day)",
    )
    parser.add_argument(
        "--body-timeout",
        type=float,
        default=10.0,
        help="seconds a request body may take, in all, to arrive after its headers (then 400)",
    )
    parser.add_argument(
        "--header-timeout",
        type=float,
        default=10.0,
        help="seconds a request line and headers may take, in all, after their first byte "
        "(then the connection is closed)",
    )
    assumed = parser.add_argument_group(
        "assumed values", "no Dfns source states these; change them to match what you see"
    )
    for name, kind, help_text in ASSUMED_OPTIONS:
        assumed.add_argument(
            f"--{name.replace('_', '-')}", type=kind, default=getattr(ASSUMED, name), help=help_text
        )
    assumed.add_argument(
        "--allow-unknown-fields",
        action="store_true",
        help="ignore unknown webhook body fields instead of answering 400",
    )
    assumed.add_argument(
        "--extra-event-kind",
        action="append",
        default=[],
        metavar="KIND",
        help="accept an event kind missing from the catalogue (repeatable)",
    )
    assumed.add_argument(
        "--ping-without-timestamp",
        action="store_true",
        help="send the ping's test event without timestampSent (its payload is undocumented)",
    )
    shapes = parser.add_argument_group(
        "shapes the sources disagree on", "the default is the 2024 docs' shape"
    )
    shapes.add_argument(
        "--lean-events",
        action="store_true",
        help="list webhook events in the SDKs' shape: no deliveryFailed, deliveryAttempt, "
        "retryOf or nextAttemptDate",
    )
    shapes.add_argument(
        "--secret-in-get",
        action="store_true",
        help="return the webhook's secret from GET /webhooks/{id} and from updates",
    )
    args = parser.parse_args(argv)
    if args.delivery_time_scale < 0:
        parser.error("--delivery-time-scale must be >= 0")
    for name in (
        "challenge_ttl",
        "user_action_ttl",
        "delivery_timeout",
        "body_timeout",
        "header_timeout",
    ):
        value = getattr(args, name)
        if not (value > 0 and math.isfinite(value)):
            parser.error(f"--{name.replace('_', '-')} must be a finite number > 0")
    if not 400 <= args.webhook_limit_status <= 599:
        parser.error("--webhook-limit-status must be an HTTP error status (400-599)")
    if args.url_max < 1:
        parser.error("--url-max must be >= 1")
    if args.max_webhooks < 0:
        parser.error("--max-webhooks must be >= 0")
    if args.rate_limit < 1:
        parser.error("--rate-limit must be >= 1")
    return EmulatorConfig(
        data_dir=args.data_dir,
        host=args.host,
        port=args.port,
        max_webhooks=args.max_webhooks,
        key_type=args.key_type,
        rate_limit=args.rate_limit,
        delivery_time_scale=args.delivery_time_scale,
        body_timeout=args.body_timeout,
        header_timeout=args.header_timeout,
        assumed=Assumed(
            **{name: getattr(args, name) for name, _, _ in ASSUMED_OPTIONS},
            refuse_unknown_fields=not args.allow_unknown_fields,
            extra_event_kinds=frozenset(args.extra_event_kind),
            ping_timestamp=not args.ping_without_timestamp,
            lean_events=args.lean_events,
            secret_in_get=args.secret_in_get,
        ),
    )


def main(argv: list[str] | None = None) -> int:
    config = parse_args(argv)
    try:
        server = EmulatorServer(config)
    except OSError as exc:
        print(
            f"dfns-emulator: cannot listen on {config.host}:{config.port}: {exc}", file=sys.stderr
        )
        return 1

    def stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    credentials = config.data_dir / "credentials.json"
    print(f"dfns-emulator ready at {server.url} (credentials: {credentials})", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
