"""The plugin's property names (the schema's camelCase) against the core's snake_case.

The core (core.py, inputs.py) names properties as the dynamic resource always has
(`secret_version`); a provider plugin's schema names them as Pulumi packages do
(`secretVersion`: every generated SDK maps them to its language's case). The plugin
translates at its edge, in both directions, and also reads the snake_case keys of a
`DfnsWebhook` stack's state: the migration (an alias from the dynamic type) hands the
new provider the old state as it was written.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ..inputs import INPUTS, OUTPUTS

# `__provider`: the pickled dynamic provider in a DfnsWebhook's state; the plugin has
# no use for it.
DYNAMIC_PROVIDER_KEY = "__provider"
RESOURCE_TOKEN = "dfns:index:Webhook"
# The type a DfnsWebhook has in state (`pulumi.dynamic.Resource` with module "dfns"
# and name "Webhook": sdk/python/lib/pulumi/dynamic/dynamic.py, Resource.__init__).
DYNAMIC_TYPE = "pulumi-python:dynamic/dfns:Webhook"


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


SNAKE_OF = {camel(name): name for name in OUTPUTS}
CAMEL_OF = {name: camel(name) for name in OUTPUTS}
CAMEL_INPUTS = tuple(camel(name) for name in INPUTS)
# Names only the plugin's state has (`dateCreated`, `secretVersion`, ...): their
# presence tells a state the plugin wrote.
PLUGIN_ONLY_NAMES = frozenset(SNAKE_OF) - frozenset(CAMEL_OF)

_SNAKE_WORD = re.compile(
    r"\b(" + "|".join(sorted((n for n in OUTPUTS if "_" in n), key=len, reverse=True)) + r")\b"
)


def in_schema_terms(text: str) -> str:
    """A core message with the schema's names: `secret_version` reads `secretVersion`,
    `DfnsWebhook` reads `dfns:index:Webhook`."""
    text = _SNAKE_WORD.sub(lambda m: CAMEL_OF[m.group(1)], text)
    return text.replace("DfnsWebhook", RESOURCE_TOKEN)


def from_engine(props: Mapping[str, Any], *, legacy: bool = True) -> tuple[dict[str, Any], bool]:
    """The core's view of an engine property map, and whether it was a DfnsWebhook's.

    Schema names map to the core's; with `legacy`, a state written by the dynamic
    resource (snake_case keys, `__provider`) is read too, the schema's name winning where
    both are present. Keys of neither are kept as they are; without `legacy`, a snake_case name is
    dropped (the plugin's check refuses it by its own list).
    """
    out: dict[str, Any] = {}
    was_dynamic = DYNAMIC_PROVIDER_KEY in props
    for key, value in props.items():
        legacy_name = key in CAMEL_OF and key not in SNAKE_OF
        if key != DYNAMIC_PROVIDER_KEY and not legacy_name:
            out[SNAKE_OF.get(key, key)] = value
    if legacy:
        for key, value in props.items():
            if key in CAMEL_OF and key not in SNAKE_OF:
                was_dynamic = True
                if CAMEL_OF[key] not in props:  # the schema's name wins
                    out[key] = value
    return out, was_dynamic


def to_engine(values: Mapping[str, Any]) -> dict[str, Any]:
    return {CAMEL_OF.get(key, key): value for key, value in values.items()}
