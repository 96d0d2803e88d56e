"""Audit a Dfns organisation's webhooks against Pulumi state: `python -m pulumi_dfns.audit`.

Lists every webhook Dfns holds and marks each: managed (by which stack and resource),
unmanaged, duplicate of another (same url and events), and its failed deliveries in the
last 24 hours; then how many of the organisation's webhook slots are free for rolls.
Two webhooks with the same url and events that one stack manages are the documented
rotation (README, "Rotate without losing a delivery"): a rotation pair, reported as
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
import codecs
import json
import os
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypedDict

from .errors import DfnsError, DfnsForbiddenError, DfnsSettingsError, DfnsUnauthorizedError
from .health import (
    FAILURE_PAGE_LIMIT,
    RETRY_GRACE_SECONDS,
    DeliveryFailure,
    Pending,
    pending_retries,
    summarise,
)
from .redact import shown_url
from .settings import (
    API_URL,
    AUTH_TOKEN,
    DEFAULT_API_URL,
    ClientSettings,
    check_api_url,
    load_limits,
    lookup,
)

WEBHOOK_TYPE = "pulumi-python:dynamic/dfns:Webhook"
# Dfns's default limit per organisation (2024 docs); `--max-webhooks` for a raised one.
DEFAULT_MAX_WEBHOOKS = 5
EXIT_OK, EXIT_FINDINGS, EXIT_CANNOT_RUN = 0, 1, 2


class AuditError(Exception):
    """The audit cannot run; the message names why and what to do."""


class Reference(TypedDict):
    stack: str
    resource: str
    urn: str
    file: str


class Row(TypedDict):
    id: str
    url: str
    events: list[str]
    status: str
    description: str | None
    dateCreated: str | None
    managedBy: list[Reference]
    lookedUpBy: list[Reference]
    duplicateOf: str | None
    rotationPairOf: str | None  # same url and events, both managed by one stack
    failedDeliveries24h: int
    failedDeliveriesAtLeast: bool
    lastDeliveryFailure: DeliveryFailure | None


@dataclass
class StateIndex:
    """What the given `pulumi stack export` files say about DfnsWebhooks."""

    managed: dict[str, list[Reference]] = field(default_factory=dict)
    looked_up: dict[str, list[Reference]] = field(default_factory=dict)
    pending_creates: list[Reference] = field(default_factory=list)


# -- files -----------------------------------------------------------------------------

# Byte order marks, longest first (UTF-32 LE's begins with UTF-16 LE's).
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def read_text(path: Path, option: str) -> str:
    """A file's text: UTF-8, or UTF-8/16/32 with a byte order mark (PowerShell's `>`
    writes UTF-16 with one)."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise AuditError(f"{option} {path}: cannot read it ({exc.strerror or exc})") from None
    encoding = next((name for bom, name in _BOMS if raw.startswith(bom)), "utf-8")
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError:
        raise AuditError(
            f"{option} {path}: not readable as {encoding} text; write it as UTF-8"
        ) from None


# -- settings --------------------------------------------------------------------------


def read_config_file(path: Path) -> dict[str, Any]:
    """`dfns:*` keys from JSON: a plain object, or `pulumi config --json` output
    (`{"dfns:authToken": {"value": ..., "secret": true}}`). A YAML stack file is read
    only when PyYAML is installed (it is not a dependency), and its `secure:` values are
    encrypted: use `pulumi config --json --show-secrets > FILE` instead."""
    text = read_text(path, "--config")
    try:
        data = json.loads(text)
    except RecursionError:
        raise AuditError(f"--config {path}: nested too deeply to be a config") from None
    except ValueError:
        data = _yaml_config(path, text)
    if not isinstance(data, dict):
        raise AuditError(f"--config {path}: expected an object of dfns:* keys")
    if isinstance(data.get("config"), dict):  # a Pulumi.<stack>.yaml layout
        data = data["config"]
    config: dict[str, Any] = {}
    for key, value in data.items():
        if not str(key).startswith("dfns:"):
            continue
        if isinstance(value, dict):
            if "secure" in value:
                raise AuditError(
                    f"--config {path}: {key} is encrypted; write the file with "
                    "`pulumi config --json --show-secrets > FILE`, or set the DFNS_* variable"
                )
            if value.get("secret") and "value" not in value:
                raise AuditError(
                    f"--config {path}: {key} is a secret without its value; write the file "
                    "with `pulumi config --json --show-secrets > FILE`"
                )
            value = value.get("value")
        config[str(key)] = value
    return config


def _yaml_config(path: Path, text: str) -> Any:
    try:
        import yaml  # type: ignore[import-untyped,unused-ignore]
    except ImportError:
        raise AuditError(
            f"--config {path}: not JSON (YAML needs PyYAML, which pulumi-dfns does not "
            "install); write it with `pulumi config --json --show-secrets > FILE`"
        ) from None
    try:
        return yaml.safe_load(text)
    except (yaml.YAMLError, RecursionError):
        raise AuditError(f"--config {path}: neither JSON nor YAML (or nested too deeply)") from None


def audit_settings(config: Mapping[str, Any], env: Mapping[str, str]) -> ClientSettings:
    """Only what reading needs: no credential, so no signed call can be made."""
    token = lookup(AUTH_TOKEN, config, env)
    if token is None:
        raise DfnsSettingsError(
            AUTH_TOKEN.config_key, f"not set; set {AUTH_TOKEN.env} or pass --config FILE"
        )
    return ClientSettings(
        api_url=check_api_url(lookup(API_URL, config, env) or DEFAULT_API_URL),
        auth_token=token,
        credential=None,
        # The provider's own parsing and bounds: one rule for every reader of settings.
        **load_limits(config, env),
    )


# -- state -----------------------------------------------------------------------------


def _reference(resource: Mapping[str, Any], path: Path) -> Reference:
    urn = str(resource.get("urn") or "")
    # urn:pulumi:<stack>::<project>::<type>::<name>
    parts = urn.split("::")
    stack = parts[0].split(":", 2)[2] if parts[0].count(":") >= 2 else "?"
    return {
        "stack": stack,
        "resource": parts[-1] if len(parts) >= 4 else "?",
        "urn": urn,
        "file": str(path),
    }


def read_states(paths: Sequence[Path]) -> StateIndex:
    """DfnsWebhooks of `pulumi stack export` files (deployment.resources and
    deployment.pending_operations, apitype.DeploymentV3)."""
    index = StateIndex()
    for path in paths:
        try:
            data = json.loads(read_text(path, "--state"))
        except ValueError:
            raise AuditError(f"--state {path}: not JSON (use `pulumi stack export`)") from None
        except RecursionError:
            # Python's parser recurses per level: a hostile or broken file must not end
            # the audit as "unexpected RecursionError".
            raise AuditError(
                f"--state {path}: nested too deeply to be a `pulumi stack export`"
            ) from None
        deployment = data.get("deployment") if isinstance(data, dict) else None
        if not isinstance(deployment, dict):
            raise AuditError(f"--state {path}: no 'deployment' (use `pulumi stack export`)")
        # A malformed export must not pass as "nothing managed here".
        resources = _objects(deployment, "resources", path)
        operations = _objects(deployment, "pending_operations", path)
        for resource in resources:
            if resource.get("type") != WEBHOOK_TYPE:
                continue
            webhook_id = resource.get("id")
            if not webhook_id:
                continue
            target = index.looked_up if resource.get("external") else index.managed
            target.setdefault(str(webhook_id), []).append(_reference(resource, path))
        for operation in operations:
            pending = operation.get("resource")
            if (
                isinstance(pending, dict)
                and pending.get("type") == WEBHOOK_TYPE
                and operation.get("type") == "creating"
            ):
                index.pending_creates.append(_reference(pending, path))
    return index


def _objects(deployment: Mapping[str, Any], key: str, path: Path) -> list[dict[str, Any]]:
    """deployment[key]: absent or null, or a list of objects; anything else is refused."""
    items = deployment.get(key)
    if items is None:
        return []
    if not isinstance(items, list):
        raise AuditError(
            f"--state {path}: deployment.{key} is not a list (use `pulumi stack export`)"
        )
    for n, item in enumerate(items):
        if not isinstance(item, dict):
            raise AuditError(f"--state {path}: deployment.{key}[{n}] is not an object")
    return items


# -- the audit -------------------------------------------------------------------------


def run_audit(client: Any, states: StateIndex) -> tuple[list[Row], list[Reference]]:
    """Rows for every webhook Dfns holds, and state references Dfns no longer holds."""
    webhooks = sorted(client.list_webhooks(), key=lambda w: (w.get("dateCreated") or "", w["id"]))
    rows: list[Row] = []
    same: dict[tuple[str, tuple[str, ...]], list[Row]] = {}  # url and events -> rows
    for webhook in webhooks:
        key = (str(webhook.get("url")), tuple(sorted(set(webhook.get("events") or []))))
        events, more, date = client.webhook_events_page(
            webhook["id"], delivery_failed=True, limit=FAILURE_PAGE_LIMIT
        )
        health = summarise(events, more, now=date)
        row: Row = {
            "id": webhook["id"],
            "url": shown_url(webhook.get("url")),
            "events": list(key[1]),
            "status": str(webhook.get("status")),
            "description": webhook.get("description"),
            "dateCreated": webhook.get("dateCreated"),
            "managedBy": states.managed.get(webhook["id"], []),
            "lookedUpBy": states.looked_up.get(webhook["id"], []),
            "duplicateOf": None,
            "rotationPairOf": None,
            "failedDeliveries24h": health.failed,
            "failedDeliveriesAtLeast": health.at_least,
            "lastDeliveryFailure": health.last,
        }
        earlier = same.setdefault(key, [])
        if len(earlier) == 1 and _one_stack(earlier[0]["managedBy"], row["managedBy"]):
            # The documented rotation: the old webhook and its successor, both declared
            # by the same stack. The same url and events in two stacks (dev and prod)
            # is a duplicate: every event would be delivered twice, for good.
            earlier[0]["rotationPairOf"] = row["id"]
            row["rotationPairOf"] = earlier[0]["id"]
        elif earlier:
            row["duplicateOf"] = earlier[0]["id"]
        earlier.append(row)
        rows.append(row)
    held = {w["id"] for w in webhooks}
    missing = [ref for wid, refs in states.managed.items() if wid not in held for ref in refs]
    return rows, missing


def awaiting_retry(
    client: Any,
    webhook_id: str,
    *,
    enabled: bool | None = None,
    grace: float = RETRY_GRACE_SECONDS,
) -> list[Pending]:
    """The rotation gate: the failed deliveries of a webhook that Dfns can still retry
    (health.pending_retries says how each is decided).

    Every page of two listings (Dfns keeps 31 days): all events, then those Dfns's own
    filter `deliveryFailed=true` returns (documented by every source), in that order so
    that no failure can be newer than what the first listing shows of its delivery.
    Judged at the `Date` of the last answer, Dfns's clock (dfns_clock.py), or by this
    machine's clock, said so, when Dfns sent none. `enabled`: the webhook's status is
    Enabled (None: read it).
    """
    if enabled is None:
        enabled = client.get_webhook(webhook_id).get("status") == "Enabled"
    everything, _ = client.list_webhook_events_dated(webhook_id)
    failed, date = client.list_webhook_events_dated(webhook_id, delivery_failed=True)
    now = time.time() if date is None else date
    pending = pending_retries(failed, everything, now=now, enabled=bool(enabled), grace=grace)
    if date is None:
        note = " (Dfns's answer had no Date: judged by this machine's clock)"
        pending = [replace(p, reason=p.reason + note) for p in pending]
    return pending


def _stack_of(ref: Reference) -> str:
    """The stack a reference belongs to: `urn:pulumi:<stack>::<project>` (two stacks
    named dev of two projects are two stacks)."""
    return "::".join(ref["urn"].split("::")[:2])


def _one_stack(old: list[Reference], new: list[Reference]) -> bool:
    """Are both webhooks managed, and every reference to either of the same stack?"""
    return bool(old and new) and len({_stack_of(ref) for ref in old + new}) == 1


def _findings(rows: list[Row], missing: list[Reference]) -> list[str]:
    found = []
    for row in rows:
        if not row["managedBy"]:
            found.append(f"{row['id']} is managed by no stack given")
        elif len(row["managedBy"]) > 1:
            owners = ", ".join(f"{r['stack']}/{r['resource']}" for r in row["managedBy"])
            found.append(f"{row['id']} is managed by several resources: {owners}")
        if row["duplicateOf"]:
            found.append(f"{row['id']} duplicates {row['duplicateOf']} (same url and events)")
    for ref in missing:
        found.append(
            f"{ref['stack']}/{ref['resource']} points at a webhook Dfns no longer holds: "
            "`pulumi refresh` that stack"
        )
    return found


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
    findings = _findings(rows, missing)
    for webhook_id in args.awaiting_retry:
        if webhook_id not in status:
            findings.append(f"{webhook_id} (--awaiting-retry) is not held by Dfns")
        elif waiting[webhook_id]:
            findings.append(_awaiting_finding(webhook_id, waiting[webhook_id]))
    pairs = _rotation_pairs(rows)
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


def _awaiting_finding(webhook_id: str, pending: list[Pending]) -> str:
    known = [p.until for p in pending if p.until is not None]
    last = max(known) if len(known) == len(pending) else None
    until = (
        f"the last of them counts until {_iso(last)} by Dfns's clock"
        if last is not None
        else "one of them cannot be dated, so it counts until it is retried or expires"
    )
    reasons = "; ".join(sorted({p.reason for p in pending}))
    return (
        f"{webhook_id} has {len(pending)} failed deliveries that Dfns may still retry: do "
        "not delete or disable it yet (Dfns does not retry a deleted or disabled webhook's "
        f"deliveries); {until} (judged by: {reasons})"
    )


def _iso(moment: float) -> str:
    stamp = datetime.fromtimestamp(moment, tz=timezone.utc).isoformat(timespec="seconds")
    return stamp.replace("+00:00", "Z")


def _grace(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError("a number of seconds") from None
    if not 0 <= value <= 7 * 86400:
        raise argparse.ArgumentTypeError("from 0 to 604800 seconds")
    return value


def _rotation_pairs(rows: list[Row]) -> list[tuple[str, str]]:
    """(older, newer) ids of each rotation pair; rows are oldest first."""
    seen: set[str] = set()
    pairs = []
    for row in rows:
        partner = row["rotationPairOf"]
        if partner is not None and partner in seen:
            pairs.append((partner, row["id"]))
        seen.add(row["id"])
    return pairs


if __name__ == "__main__":
    sys.exit(main())
