"""`python -m pulumi_dfns.quickstart`: the main job on the embedded default.

Starts the local Dfns emulator and makes one signed round trip against it (create,
update, read, delete a webhook), printing what travelled.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .client import DfnsClient
from .errors import DfnsError
from .settings import load_settings

READY = re.compile(r"ready at (http://\S+)")


@contextmanager
def running_emulator(data_dir: Path) -> Iterator[str]:
    """Run `python -m pulumi_dfns.emulator` until the block ends; yield its URL."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "pulumi_dfns.emulator", "--data-dir", str(data_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 30
        url = None
        while url is None and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                raise DfnsError(f"the emulator exited before it was ready (exit {proc.wait()})")
            match = READY.search(line)
            url = match.group(1) if match else None
        if url is None:
            raise DfnsError("the emulator was not ready within 30 s")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def stack_config(data_dir: Path) -> dict[str, str]:
    """The emulator's credentials.json in stack-config (`dfns:`) form."""
    credentials = json.loads((data_dir / "credentials.json").read_text())
    return {f"dfns:{key}": str(value) for key, value in credentials.items()}


def round_trip(client: DfnsClient) -> None:
    created = client.create_webhook(
        "https://receiver.example/dfns", ["wallet.created"], description="quickstart"
    )
    webhook_id = created["id"]
    print(f"created  {webhook_id}  events={created['events']}  (secret returned once, hidden)")
    updated = client.update_webhook(webhook_id, {"description": "quickstart, updated"})
    print(f"updated  {webhook_id}  description={updated['description']!r}")
    fetched = client.get_webhook(webhook_id)
    print(f"read     {webhook_id}  status={fetched['status']}")
    client.delete_webhook(webhook_id)
    print(f"deleted  {webhook_id}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pulumi_dfns.quickstart")
    parser.add_argument("--data-dir", type=Path, default=Path(".dfns-emulator"))
    args = parser.parse_args(argv)
    try:
        with running_emulator(args.data_dir) as url:
            print(f"local Dfns emulator at {url}")
            client = DfnsClient(load_settings(stack_config(args.data_dir), env={}))
            round_trip(client)
    except DfnsError as exc:
        print(f"quickstart failed: {exc}", file=sys.stderr)
        return 1
    print("done: every change above was a signed user action (challenge, signature, call)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
