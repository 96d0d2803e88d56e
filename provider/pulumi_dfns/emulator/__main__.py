"""`python -m pulumi_dfns.emulator`: serve a local Dfns API until interrupted."""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path
from types import FrameType

from ..signing import KEY_TYPES
from .server import EmulatorConfig, EmulatorServer


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
    args = parser.parse_args(argv)
    if args.delivery_time_scale < 0:
        parser.error("--delivery-time-scale must be >= 0")
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
