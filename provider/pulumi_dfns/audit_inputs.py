"""What the audit reads: its `--config` file (settings) and `--state` files
(`pulumi stack export`). The command is audit.py; what it concludes, audit_findings.py.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypedDict

from .byte_order import marked_encoding
from .errors import DfnsSettingsError
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


class AuditError(Exception):
    """The audit cannot run; the message names why and what to do."""


class Reference(TypedDict):
    stack: str
    resource: str
    urn: str
    file: str


@dataclass
class StateIndex:
    """What the given `pulumi stack export` files say about DfnsWebhooks."""

    managed: dict[str, list[Reference]] = field(default_factory=dict)
    looked_up: dict[str, list[Reference]] = field(default_factory=dict)
    pending_creates: list[Reference] = field(default_factory=list)


# -- files -----------------------------------------------------------------------------


def read_text(path: Path, option: str) -> str:
    """A file's text: UTF-8, or UTF-8/16/32 with a byte order mark (PowerShell's `>`
    writes UTF-16 with one)."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise AuditError(f"{option} {path}: cannot read it ({exc.strerror or exc})") from None
    encoding = marked_encoding(raw) or "utf-8"
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
