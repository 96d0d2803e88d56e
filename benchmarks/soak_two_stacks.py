"""The long two-stack soak: two provider servers (two "stacks", two webhooks each)
run at the same time against one emulator organisation (Dfns's default limit of 5
webhooks) and one receiver url, often creating identical webhooks at the same moment,
while the emulator faults 20% of all API requests at random (seeded).

    .venv/bin/python benchmarks/soak_two_stacks.py --operations 1000 --seed 1 [--json F]

Prints the figures docs/troubleshooting.md quotes; exits 1 unless the run ends with 0 duplicates,
0 orphans, 0 silent orphans, 0 foreign deletions and 0 unasked deletions.
tests/test_soak.py runs a short seed in CI.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.soak import run  # noqa: E402 - after the path set-up above


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--operations", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pulumi-dfns-soak-") as tmp:
        result = run(Path(tmp) / "emulator", args.operations, args.seed)
    figures = {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.system()} {platform.machine()}, Python {platform.python_version()}",
        "seed": args.seed,
        **result.summary(),
    }
    print(json.dumps(figures, indent=2))
    kinds = sorted(
        {line.split(": ", 2)[1].split(" ")[0] for line in result.failures if ": " in line}
    )
    print(f"failed operations began with: {', '.join(kinds) or 'none'}")
    if args.json:
        args.json.write_text(json.dumps({**figures, "failures": result.failures}, indent=2))
    clean = not (
        result.duplicates
        or result.orphans
        or result.silent_orphans
        or result.foreign_deletions
        or result.unasked_deletions
    )
    return 0 if clean else 1


if __name__ == "__main__":
    raise SystemExit(main())
