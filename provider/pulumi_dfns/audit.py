"""Audit a Dfns organisation's webhooks against Pulumi state: `python -m pulumi_dfns.audit`.

Lists every webhook Dfns holds and marks each: managed (by which stack and resource),
unmanaged, duplicate of another (same url and events), and its failed deliveries in the
last 24 hours; then how many of the organisation's webhook slots are free for rolls.
This is how the orphan of a cancelled run is found.

It reads settings as the provider does (`dfns:*` keys of a `--config` JSON file, then
the `DFNS_*` variables) but needs only the API URL and the token: it never loads a
signing key, so it cannot make a change-making (signed) call; it sends only GETs.
It never prints a secret (Dfns's list holds none; state values are not printed).

Exit status: 0 every webhook is managed and none is duplicated (and every webhook in
state exists); 1 otherwise; 2 the audit could not run (the reason is printed).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypedDict
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from .errors import DfnsError, DfnsSettingsError
from .health import FAILURE_PAGE_LIMIT, DeliveryFailure, summarise
from .settings import (
    API_URL,
    AUTH_TOKEN,
    CONNECT_TIMEOUT,
    DEFAULT_API_URL,
    MAX_ATTEMPTS,
    READ_TIMEOUT,
    RETRY_TIMEOUT,
    ClientSettings,
    Setting,
    check_api_url,
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
    failedDeliveries24h: int
    failedDeliveriesAtLeast: bool
    lastDeliveryFailure: DeliveryFailure | None


@dataclass
class StateIndex:
    """What the given `pulumi stack export` files say about DfnsWebhooks."""

    managed: dict[str, list[Reference]] = field(default_factory=dict)
    looked_up: dict[str, list[Reference]] = field(default_factory=dict)
    pending_creates: list[Reference] = field(default_factory=list)


# -- settings --------------------------------------------------------------------------


def read_config_file(path: Path) -> dict[str, Any]:
    """`dfns:*` keys from JSON: a plain object, or `pulumi config --json` output
    (`{"dfns:authToken": {"value": ..., "secret": true}}`). A YAML stack file is read
    only when PyYAML is installed (it is not a dependency), and its `secure:` values are
    encrypted: use `pulumi config --json --show-secrets > FILE` instead."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise AuditError(f"--config {path}: cannot read it ({exc.strerror or exc})") from None
    try:
        data = json.loads(text)
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
    except yaml.YAMLError:
        raise AuditError(f"--config {path}: neither JSON nor YAML") from None


def _lookup(setting: Setting, config: Mapping[str, Any], env: Mapping[str, str]) -> str | None:
    value = config.get(setting.config_key)
    if value is None or value == "":
        value = env.get(setting.env)
    return None if value is None or value == "" else str(value)


def _positive(
    setting: Setting, config: Mapping[str, Any], env: Mapping[str, str], default: float
) -> float:
    text = _lookup(setting, config, env)
    if text is None:
        return default
    try:
        value = float(text)
    except ValueError:
        raise DfnsSettingsError(setting.config_key, f"{text!r} is not a number") from None
    if not math.isfinite(value) or value <= 0:
        raise DfnsSettingsError(setting.config_key, f"must be a number above 0, got {text}")
    return value


def audit_settings(config: Mapping[str, Any], env: Mapping[str, str]) -> ClientSettings:
    """Only what reading needs: no credential, so no signed call can be made."""
    token = _lookup(AUTH_TOKEN, config, env)
    if token is None:
        raise DfnsSettingsError(
            AUTH_TOKEN.config_key, f"not set; set {AUTH_TOKEN.env} or pass --config FILE"
        )
    attempts = _positive(MAX_ATTEMPTS, config, env, 4)
    return ClientSettings(
        api_url=check_api_url(_lookup(API_URL, config, env) or DEFAULT_API_URL),
        auth_token=token,
        credential=None,
        connect_timeout=_positive(CONNECT_TIMEOUT, config, env, 5.0),
        read_timeout=_positive(READ_TIMEOUT, config, env, 30.0),
        max_attempts=max(1, int(attempts)),
        retry_timeout=_positive(RETRY_TIMEOUT, config, env, 60.0),
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
            data = json.loads(path.read_text())
        except OSError as exc:
            raise AuditError(f"--state {path}: cannot read it ({exc.strerror or exc})") from None
        except ValueError:
            raise AuditError(f"--state {path}: not JSON (use `pulumi stack export`)") from None
        deployment = data.get("deployment") if isinstance(data, dict) else None
        if not isinstance(deployment, dict):
            raise AuditError(f"--state {path}: no 'deployment' (use `pulumi stack export`)")
        for resource in deployment.get("resources") or []:
            if not isinstance(resource, dict) or resource.get("type") != WEBHOOK_TYPE:
                continue
            webhook_id = resource.get("id")
            if not webhook_id:
                continue
            target = index.looked_up if resource.get("external") else index.managed
            target.setdefault(str(webhook_id), []).append(_reference(resource, path))
        for operation in deployment.get("pending_operations") or []:
            resource = operation.get("resource") if isinstance(operation, dict) else None
            if (
                isinstance(resource, dict)
                and resource.get("type") == WEBHOOK_TYPE
                and operation.get("type") == "creating"
            ):
                index.pending_creates.append(_reference(resource, path))
    return index


# -- the audit -------------------------------------------------------------------------


def redact(url: str) -> str:
    """A url as the user may read it: no userinfo, no query values."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return "<unreadable url>"
    netloc = (f"[{host}]" if ":" in host else host) + (f":{port}" if port else "")
    query = urlencode([(k, "...") for k, _ in parse_qsl(parts.query, keep_blank_values=True)])
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def run_audit(client: Any, states: StateIndex) -> tuple[list[Row], list[Reference]]:
    """Rows for every webhook Dfns holds, and state references Dfns no longer holds."""
    webhooks = sorted(client.list_webhooks(), key=lambda w: (w.get("dateCreated") or "", w["id"]))
    rows: list[Row] = []
    first_of: dict[tuple[str, tuple[str, ...]], str] = {}
    for webhook in webhooks:
        key = (str(webhook.get("url")), tuple(sorted(set(webhook.get("events") or []))))
        events, more = client.webhook_events_page(
            webhook["id"], delivery_failed=True, limit=FAILURE_PAGE_LIMIT
        )
        health = summarise(events, more)
        rows.append(
            {
                "id": webhook["id"],
                "url": redact(str(webhook.get("url"))),
                "events": list(key[1]),
                "status": str(webhook.get("status")),
                "description": webhook.get("description"),
                "dateCreated": webhook.get("dateCreated"),
                "managedBy": states.managed.get(webhook["id"], []),
                "lookedUpBy": states.looked_up.get(webhook["id"], []),
                "duplicateOf": first_of.get(key),
                "failedDeliveries24h": health.failed,
                "failedDeliveriesAtLeast": health.at_least,
                "lastDeliveryFailure": health.last,
            }
        )
        first_of.setdefault(key, webhook["id"])
    held = {w["id"] for w in webhooks}
    missing = [ref for wid, refs in states.managed.items() if wid not in held for ref in refs]
    return rows, missing


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
                row["duplicateOf"] or "-",
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
    args = parser.parse_args(argv)
    env = os.environ if env is None else env
    try:
        config = read_config_file(args.config) if args.config else {}
        settings = audit_settings(config, env)
        states = read_states(args.state)
        from .client import DfnsClient

        client = DfnsClient(settings)
        try:
            rows, missing = run_audit(client, states)
        finally:
            client.close()
    except DfnsSettingsError as exc:
        print(f"audit: cannot run: {exc.setting}: {exc.reason}", file=sys.stderr)
        return EXIT_CANNOT_RUN
    except (AuditError, DfnsError) as exc:
        print(f"audit: cannot run: {exc}", file=sys.stderr)
        return EXIT_CANNOT_RUN
    findings = _findings(rows, missing)
    free = max(0, args.max_webhooks - len(rows))
    if args.json:
        report = {
            "webhooks": rows,
            "missingFromDfns": missing,
            "pendingCreates": states.pending_creates,
            "limit": args.max_webhooks,
            "freeSlots": free,
            "findings": findings,
            "ok": not findings,
        }
        print(json.dumps(report, indent=2))
    else:
        print(_table(rows) if rows else "Dfns holds no webhook.")
        print()
        for finding in findings:
            print(f"- {finding}")
        for ref in states.pending_creates:
            print(
                f"- {ref['stack']}/{ref['resource']} has a pending create (a cancelled run): "
                "an UNMANAGED webhook with its url may be its orphan"
            )
        unmanaged = sum(1 for r in rows if not r["managedBy"])
        duplicates = sum(1 for r in rows if r["duplicateOf"])
        print(
            f"{len(rows)} webhook(s): {len(rows) - unmanaged} managed, {unmanaged} unmanaged, "
            f"{duplicates} duplicate(s); free slots {free} of {args.max_webhooks} "
            "(a secret roll or rotation needs 1)"
        )
    return EXIT_FINDINGS if findings else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
