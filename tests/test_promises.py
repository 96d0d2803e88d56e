"""The compatibility promises: the package, tests/promises.json and CHANGELOG.md agree.

A rename in the code alone fails here; so does an edit of promises.json that the
CHANGELOG's "Compatibility promises" section does not carry. Changing a promise is
thus always two deliberate edits besides the code, and the CHANGELOG says it.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import inspect
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pulumi
import pytest
from pulumi.dynamic.dynamic import serialize_provider

import pulumi_dfns
from pulumi_dfns.inputs import INPUTS, OUTPUTS
from pulumi_dfns.provider import DfnsWebhookProvider
from pulumi_dfns.settings import ALL_SETTINGS
from pulumi_dfns.webhook import DfnsWebhook, DfnsWebhookArgs

ROOT = Path(__file__).resolve().parent.parent
PROMISES: dict[str, Any] = json.loads((ROOT / "tests" / "promises.json").read_text())
PROVIDER_KEY = "__provider"


def promised(kind: str) -> set[str]:
    return {name for name, role in PROMISES["properties"].items() if role == kind}


# -- the package against promises.json -------------------------------------------------


def test_the_provider_class_path() -> None:
    module, _, name = PROMISES["provider_class"].rpartition(".")
    assert (
        f"{DfnsWebhookProvider.__module__}.{DfnsWebhookProvider.__qualname__}"
        == (PROMISES["provider_class"])
    )
    assert pulumi_dfns.DfnsWebhookProvider is DfnsWebhookProvider
    # What state holds: the class pickled by reference, by that path.
    raw = base64.b64decode(serialize_provider(DfnsWebhookProvider()))
    assert module.encode() in raw and name.encode() in raw


def test_the_input_names() -> None:
    inputs = promised("input")
    assert set(INPUTS) == inputs
    assert {f.name for f in dataclasses.fields(DfnsWebhookArgs)} == inputs
    keywords = inspect.signature(DfnsWebhook.__init__).parameters.values()
    assert {p.name for p in keywords if p.kind is inspect.Parameter.KEYWORD_ONLY} == inputs


def test_the_output_names() -> None:
    outputs = promised("output")
    assert set(OUTPUTS) == promised("input") | outputs
    # Output properties are class annotations of the resource (the SDK's rule).
    annotated = {
        name for name, kind in inspect.get_annotations(DfnsWebhook).items() if "Output" in kind
    }
    assert annotated == promised("input") | outputs


def test_the_settings() -> None:
    assert [s.config_key for s in ALL_SETTINGS] == PROMISES["config_keys"]
    assert [s.env for s in ALL_SETTINGS] == PROMISES["env_vars"]


class Recorder(pulumi.runtime.Mocks):
    def __init__(self) -> None:
        self.registered: list[pulumi.runtime.MockResourceArgs] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        self.registered.append(args)
        return "wh-1", dict(args.inputs)

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[Any]]:
        return {}, []


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    mocks = Recorder()
    pulumi.runtime.set_mocks(mocks, project="promises", stack="dev", preview=False)
    yield mocks
    asyncio.set_event_loop(None)
    loop.close()


@pulumi.runtime.test  # type: ignore[untyped-decorator]
def test_the_type_token_and_registered_properties(recorder: Recorder) -> Any:
    hook = DfnsWebhook("hook", url="https://hooks.example.com/x", events=["*"])

    def verify(_: Any) -> None:
        (registered,) = recorder.registered
        assert registered.typ == PROMISES["type_token"]
        assert set(registered.inputs) - {PROVIDER_KEY} <= set(PROMISES["properties"])

    return hook.id.apply(verify)


# -- promises.json against CHANGELOG.md ------------------------------------------------


def changelog_promises() -> dict[str, list[str]]:
    """Backticked names of each bullet of the CHANGELOG's promises section, by label."""
    text = (ROOT / "CHANGELOG.md").read_text()
    section = text.split("## Compatibility promises", 1)[1].split("\n## ", 1)[0]
    bullets: dict[str, list[str]] = {}
    for bullet in re.split(r"\n- ", section)[1:]:
        label, _, body = bullet.partition(":")
        listed = body.split(". ", 1)[0]  # the first sentence lists; the rest explains
        bullets[label.strip()] = re.findall(r"`([^`]+)`", listed)
    return bullets


def test_the_changelog_states_every_promise() -> None:
    bullets = changelog_promises()
    assert bullets["Provider class"] == [PROMISES["provider_class"]]
    assert bullets["Type token"] == [PROMISES["type_token"]]
    assert set(bullets["Inputs"]) == promised("input")
    assert set(bullets["Outputs set by the provider"]) == promised("output")
    assert bullets["Stack config keys"] == PROMISES["config_keys"]
    assert bullets["Environment variables"] == PROMISES["env_vars"]
