"""Property values as the engine moves them: plain JSON-like values with the wire
markers of `pulumi/runtime/rpc.py` (and the engine's `plugin/rpc.go`): a secret is
`{SIG: SECRET_SIG, "value": v}`, an unknown is the string UNKNOWN.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import json_format, struct_pb2

SIG = "4dabf18193072939515e22adb298388d"
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"

Props = dict[str, Any]


def secret(value: Any) -> dict[str, Any]:
    return {SIG: SECRET_SIG, "value": value}


def is_secret(value: Any) -> bool:
    return isinstance(value, dict) and value.get(SIG) == SECRET_SIG


def contains_secrets(value: Any) -> bool:
    if is_secret(value):
        return True
    if isinstance(value, dict):
        return any(contains_secrets(v) for v in value.values())
    if isinstance(value, list):
        return any(contains_secrets(v) for v in value)
    return False


def contains_unknowns(value: Any) -> bool:
    if value == UNKNOWN:
        return True
    if isinstance(value, dict):
        return any(contains_unknowns(v) for v in value.values())
    if isinstance(value, list):
        return any(contains_unknowns(v) for v in value)
    return False


def strip_secrets(value: Any) -> Any:
    """What a provider that answered Configure with acceptSecrets=false receives:
    pkg/resource/plugin/provider_plugin.go marshals every request with
    `KeepSecrets: protocol.acceptSecrets`, i.e. secrets sent as their plain value."""
    if is_secret(value):
        return strip_secrets(value["value"])
    if isinstance(value, dict):
        return {k: strip_secrets(v) for k, v in value.items()}
    if isinstance(value, list):
        return [strip_secrets(v) for v in value]
    return value


def annotate_secrets(outs: Props, ins: Props) -> None:
    """pkg/resource/plugin/provider_plugin.go annotateSecrets: a property the engine
    had to send in plaintext comes back secret under the same key."""
    for key, in_value in ins.items():
        if key not in outs:
            continue
        out_value = outs[key]
        if isinstance(out_value, dict) and isinstance(in_value, dict) and not is_secret(in_value):
            if not is_secret(out_value):
                annotate_secrets(out_value, in_value)
        elif not is_secret(out_value) and contains_secrets(in_value):
            outs[key] = secret(out_value)


def to_struct(props: Props) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    json_format.ParseDict(props, struct)
    return struct


def from_struct(struct: struct_pb2.Struct | None) -> Props:
    if struct is None:
        return {}
    props: Props = json_format.MessageToDict(struct)
    return props


def without_unknowns(props: Props) -> Props:
    """source_eval.go RegisterResource: `if !req.GetSupportsPartialValues()` the
    response drops every output that contains an unknown."""
    return {k: v for k, v in props.items() if not contains_unknowns(v)}


def redacted(value: Any) -> Any:
    """As the CLI displays values: secrets as [secret]."""
    if is_secret(value):
        return "[secret]"
    if isinstance(value, dict):
        return {k: redacted(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redacted(v) for v in value]
    return value
