"""Audit a Dfns organisation's webhooks against Pulumi state: `python -m pulumi_dfns.audit`.

Lists every webhook Dfns holds and marks each: managed (by which stack and resource),
unmanaged, duplicate of another (same url and events), and its failed deliveries in the
last 24 hours; then how many of the organisation's webhook slots are free for rolls.
Two webhooks with the same url and events that one stack manages are the documented
rotation (docs/secrets.md, "Rotate without losing a delivery"): a rotation pair, reported as
information, not as a duplicate. The same url and events in two stacks is a duplicate.
This is how the orphan of a cancelled run is found.

It reads settings as the provider does (`dfns:*` keys of a `--config` JSON file, then
the `DFNS_*` variables) but needs only the API URL and the token: it never loads a
signing key, so it cannot make a change-making (signed) call; it sends only GETs.
It never prints a secret (Dfns's list holds none; state values are not printed).

Exit status: 0 every webhook is managed and none is duplicated (and every webhook in
state exists); 1 otherwise; 2 the audit could not run (the reason is printed): a bad
setting or file, an HTTP error, or anything unexpected (named by its type only).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path

from .audit_findings import (
    Row,
    awaiting_finding,
    awaiting_retry,
    findings_of,
    rotation_pairs,
    run_audit,
)
from .audit_inputs import AuditError, audit_settings, read_config_file, read_states
from .errors import DfnsError, DfnsForbiddenError, DfnsSettingsError, DfnsUnauthorizedError
from .health import RETRY_GRACE_SECONDS
from .settings import API_URL, AUTH_TOKEN

# The command's documented names (docs/secrets.md names awaiting_retry as the rotation gate).
__all__ = ["awaiting_retry", "main", "run_audit"]

# Dfns's default limit per organisation (2024 docs); `--max-webhooks` for a raised one.
DEFAULT_MAX_WEBHOOKS = 5
EXIT_OK, EXIT_FINDINGS, EXIT_CANNOT_RUN = 0, 1, 2


def main(argv: list[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pulumi_dfns.audit",
        description="List every Dfns webhook and whether a Pulumi stack manages it (read-only).",
    )
    parser.add_argument(
        "--config", type=Path, help="JSON of dfns:* keys (`pulumi config --json --show-secrets`)"
    )
    parser.add_argument(
        "--state",
        type=Path,
        action="append",
        default=[],
        help="`pulumi stack export` output (repeatable: one per stack)",
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument(
        "--max-webhooks",
        type=int,
        default=DEFAULT_MAX_WEBHOOKS,
        help="the organisation's webhook limit (Dfns default: 5)",
    )
    parser.add_argument(
        "--awaiting-retry",
        metavar="WEBHOOK_ID",
        action="append",
        default=[],
        help="also read this webhook's events and report failed deliveries Dfns may "
        "still retry: a finding, since deleting it now would lose them (repeatable)",
    )
    parser.add_argument(
        "--retry-grace",
        type=_grace,
        default=RETRY_GRACE_SECONDS,
        metavar="SECONDS",
        help="how long after its due time a retry is still waited for (assumed; "
        f"default {RETRY_GRACE_SECONDS:g})",
    )
    args = parser.parse_args(argv)
    env = os.environ if env is None else env
    try:
        return _audit(args, env)
    except DfnsSettingsError as exc:
        reason = f"{exc.setting}: {exc.reason}"
    except (DfnsUnauthorizedError, DfnsForbiddenError) as exc:
        reason = _refused(exc)
    except (AuditError, DfnsError) as exc:
        reason = str(exc)
    except Exception as exc:  # the exit-status promise: 2, never a traceback
        # Its type only: the text of an unexpected error may hold a setting's value.
        reason = f"unexpected {type(exc).__name__} (please report it)"
    print(f"audit: cannot run: {reason}", file=sys.stderr)
    return EXIT_CANNOT_RUN


def _refused(exc: DfnsUnauthorizedError | DfnsForbiddenError) -> str:
    """The audit's own advice: the provider's mentions `pulumi refresh`/`destroy` and
    stored stack config, which do not apply to a command reading DFNS_* or --config."""
    said = f"Dfns refused (HTTP {exc.status}: {exc.dfns_message or 'no message'})"
    if isinstance(exc, DfnsUnauthorizedError):
        return (
            f"{said}: the auth token is invalid, expired or for another region; check "
            f"{AUTH_TOKEN.env} and {API_URL.env} (or dfns:authToken and dfns:apiUrl in --config)"
        )
    return (
        f"{said}: the token needs the Webhooks:Read and Webhooks:Events:Read permissions "
        "(the audit only reads)"
    )


def _audit(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    config = read_config_file(args.config) if args.config else {}
    settings = audit_settings(config, env)
    states = read_states(args.state)
    from .client import DfnsClient

    client = DfnsClient(settings)
    try:
        rows, missing = run_audit(client, states)
        status = {row["id"]: row["status"] for row in rows}
        # Every page of its events (Dfns keeps 31 days): asked for per webhook only.
        waiting = {
            webhook_id: awaiting_retry(
                client,
                webhook_id,
                enabled=status[webhook_id] == "Enabled",
                grace=args.retry_grace,
            )
            for webhook_id in args.awaiting_retry
            if webhook_id in status
        }
    finally:
        client.close()
    findings = findings_of(rows, missing)
    for webhook_id in args.awaiting_retry:
        if webhook_id not in status:
            findings.append(f"{webhook_id} (--awaiting-retry) is not held by Dfns")
        elif waiting[webhook_id]:
            findings.append(awaiting_finding(webhook_id, waiting[webhook_id]))
    pairs = rotation_pairs(rows)
    free = max(0, args.max_webhooks - len(rows))
    if args.json:
        report = {
            "webhooks": rows,
            "missingFromDfns": missing,
            "pendingCreates": states.pending_creates,
            "limit": args.max_webhooks,
            "freeSlots": free,
            "rotationPairs": [list(pair) for pair in pairs],
            "awaitingRetry": {k: [p.first for p in v] for k, v in waiting.items()},
            "awaitingRetryDetail": {k: [p.as_json() for p in v] for k, v in waiting.items()},
            "findings": findings,
            "ok": not findings,
        }
        print(json.dumps(report, indent=2))
    else:
        print(_table(rows) if rows else "Dfns holds no webhook.")
        print()
        for finding in findings:
            print(f"- {finding}")
        for old, new in pairs:
            print(
                f"- note: {old} and {new} are a rotation pair (same url and events, both "
                f"managed by one stack): remove {old} once none of its failed deliveries "
                "awaits a retry"
            )
        for ref in states.pending_creates:
            print(
                f"- {ref['stack']}/{ref['resource']} has a pending create (a cancelled run): "
                "an UNMANAGED webhook with its url may be its orphan"
            )
        unmanaged = sum(1 for r in rows if not r["managedBy"])
        duplicates = sum(1 for r in rows if r["duplicateOf"])
        print(
            f"{len(rows)} webhook(s): {len(rows) - unmanaged} managed, {unmanaged} unmanaged, "
            f"{duplicates} duplicate(s), {len(pairs)} rotation pair(s); free slots {free} of "
            f"{args.max_webhooks} (a secret roll or rotation needs 1)"
        )
    return EXIT_FINDINGS if findings else EXIT_OK


def _table(rows: list[Row]) -> str:
    header = ("ID", "STATUS", "URL", "EVENTS", "MANAGED BY", "DUPLICATE OF", "FAILED 24H")
    pair = "rotation pair of "
    lines = [header]
    for row in rows:
        managed = ", ".join(f"{r['stack']}/{r['resource']}" for r in row["managedBy"])
        if not managed:
            looked = ", ".join(f"{r['stack']}/{r['resource']}" for r in row["lookedUpBy"])
            managed = "UNMANAGED" + (f" (looked up by {looked})" if looked else "")
        failed = ("at least " if row["failedDeliveriesAtLeast"] else "") + str(
            row["failedDeliveries24h"]
        )
        events = ",".join(row["events"])
        lines.append(
            (
                row["id"],
                row["status"],
                row["url"],
                events,
                managed,
                row["duplicateOf"]
                or (pair + row["rotationPairOf"] if row["rotationPairOf"] else "-"),
                failed,
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(line)).rstrip() for line in lines
    )


def _grace(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError("a number of seconds") from None
    if not 0 <= value <= 7 * 86400:
        raise argparse.ArgumentTypeError("from 0 to 604800 seconds")
    return value


if __name__ == "__main__":
    sys.exit(main())
