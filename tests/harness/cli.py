"""A `pulumi`-shaped front for the harness.

    python -m tests.harness.cli [--cwd DIR] [--state-dir DIR] COMMAND [--stack S] [flags]

Commands: `preview [--refresh]`, `up [--yes] [--skip-preview] [--refresh]`,
`refresh [--yes] [--skip-preview]`, `destroy [--yes] [--skip-preview]`,
`stack output [NAME] [--show-secrets] [--json]`, and `stack select|init S` (accepted,
as the quickstart calls them; stacks need no creation here; other flags are ignored with
a line on stderr). The state
directory defaults to PULUMI_BACKEND_URL when it is a `file://` URL, else
<cwd>/.pulumi-state. Exit code 0 on success, 255 on failure (as the CLI). A `pulumi`
script on PATH that runs this module stands in for the CLI.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from urllib.parse import unquote, urlsplit

from .api import Harness


def _state_dir(cwd: Path, given: str | None) -> Path:
    if given:
        return Path(given)
    backend = os.environ.get("PULUMI_BACKEND_URL", "")
    if backend.startswith("file://"):
        return Path(unquote(urlsplit(backend).path))
    return cwd / ".pulumi-state"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pulumi (harness)")
    parser.add_argument("--cwd", "-C", default=".")
    parser.add_argument("--state-dir")
    parser.add_argument("--non-interactive", action="store_true")
    parser.add_argument("command")
    parser.add_argument("rest", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    sub = argparse.ArgumentParser(prog=f"pulumi {args.command}")
    sub.add_argument("--stack", "-s", default=os.environ.get("PULUMI_STACK", "dev"))
    sub.add_argument("--cwd", "-C")
    sub.add_argument("--yes", "-y", action="store_true")
    sub.add_argument("--skip-preview", action="store_true")
    sub.add_argument("--refresh", "-r", action="store_true")
    sub.add_argument("--show-secrets", action="store_true")
    sub.add_argument("--json", "-j", action="store_true")
    sub.add_argument("--create", "-c", action="store_true")
    sub.add_argument("--non-interactive", action="store_true")
    sub.add_argument("words", nargs="*")
    opts, unknown = sub.parse_known_intermixed_args(args.rest)
    if unknown:
        # Flags the real CLI has and the harness does not model (say so, go on).
        print(f"harness: ignoring {' '.join(unknown)}", file=sys.stderr)
    cwd = Path(opts.cwd or args.cwd).resolve()
    harness = Harness(cwd, _state_dir(cwd, args.state_dir), echo=print)
    command = args.command
    if command == "stack":
        what = opts.words[:1]
        if what in (["select"], ["init"]):
            return 0  # a stack is its config file and its checkpoint: nothing to create
        if what == ["output"]:
            name = opts.words[1] if len(opts.words) > 1 else None
            result = harness.stack_output(opts.stack, name, opts.show_secrets, opts.json)
            return 0 if result.ok else 255
        print(f"error: the harness has no `pulumi stack {' '.join(what)}`", file=sys.stderr)
        return 255
    if command == "preview":
        result = harness.preview(opts.stack, refresh=opts.refresh)
    elif command == "up":
        result = harness.up(opts.stack, opts.yes, opts.skip_preview, opts.refresh)
    elif command == "refresh":
        result = harness.refresh(opts.stack, opts.yes, opts.skip_preview)
    elif command == "destroy":
        result = harness.destroy(opts.stack, opts.yes, opts.skip_preview)
    else:
        print(f"error: the harness has no `pulumi {command}`", file=sys.stderr)
        return 255
    return 0 if result.ok else 255


if __name__ == "__main__":
    sys.exit(main())
