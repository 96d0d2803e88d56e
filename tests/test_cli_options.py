"""Resource options and the read path through the harness (tests/harness): each docs/cli.md
row about an option a `DfnsWebhook` takes (ignore_changes, protect, retain_on_delete),
a lookup with `DfnsWebhook.get`, `adopt_secret` and `track_deliveries`, each asserting
what Dfns (the emulator) holds, what the checkpoint holds and what the user reads.
(delete_before_replace is driven through the reference program in
tests/test_cli_lifecycle.py.)"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.harness import Harness
from tests.harness.project import SECRETS_ENV
from tests.harness.wire import is_secret
from tests.support.cli_project import (
    checkpoint_text,
    emulator_env,
    program_project,
    read_stack,
    write_stack,
)
from tests.support.emulator import EmulatorProcess

HOOKS = "harness-program:hooks"

OPTIONS_PROGRAM = """\
import pulumi
from pulumi_dfns import DfnsWebhook

config = pulumi.Config()
for name, spec in config.require_object("hooks").items():
    hook = DfnsWebhook(
        name,
        url=f"https://receiver.example/dfns/{name}",
        events=["*"],
        description=spec.get("description"),
        secret_version=spec.get("secretVersion"),
        opts=pulumi.ResourceOptions(
            protect=spec.get("protect", False),
            retain_on_delete=spec.get("retain", False),
            ignore_changes=spec.get("ignore", []),
        ),
    )
    pulumi.export(name, hook.id)
"""

LOOKUP_PROGRAM = """\
import pulumi
from pulumi_dfns import DfnsWebhook

shared = DfnsWebhook.get("shared", pulumi.Config().require("sharedId"))
pulumi.export("sharedUrl", shared.url)
"""

ADOPT_PROGRAM = """\
import pulumi
from pulumi_dfns import DfnsWebhook

config = pulumi.Config()
hook = DfnsWebhook(
    "adopted",
    url="https://receiver.example/dfns/adopted",
    events=["*"],
    adopt_webhook_id=config.require("adoptId"),
    adopt_secret=config.require_secret("adoptSecret"),
)
pulumi.export("secret", hook.secret)
"""

TRACK_PROGRAM = """\
import pulumi
from pulumi_dfns import DfnsWebhook

DfnsWebhook("tracked", url="https://receiver.example/dfns/tracked", events=["*"],
            track_deliveries=True)
DfnsWebhook("plain", url="https://receiver.example/dfns/plain", events=["*"])
"""


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorProcess]:
    emulator = EmulatorProcess(tmp_path_factory.mktemp("options") / "emulator").start()
    yield emulator
    emulator.stop()


@pytest.fixture(autouse=True)
def nothing_left(emulator: EmulatorProcess) -> Iterator[None]:
    """Each scenario starts with no webhook in Dfns (the 5-webhook limit is shared)."""
    yield
    client = emulator.client()
    for hook in client.list_webhooks():
        client.delete_webhook(hook["id"])


def dfns_calls(emulator: EmulatorProcess) -> list[tuple[str, str]]:
    return [
        (r["method"], r["path"])
        for r in emulator.requests_log()
        if not r["path"].startswith("/_emulator")
    ]


def held(emulator: EmulatorProcess) -> dict[str, dict[str, Any]]:
    return {w["id"]: w for w in emulator.webhooks()}


def options_project(tmp_path: Path, hooks: dict[str, Any]) -> Path:
    return program_project(tmp_path / "project", OPTIONS_PROGRAM, {HOOKS: hooks})


def set_hooks(project: Path, hooks: dict[str, Any]) -> None:
    config = read_stack(project)
    config[HOOKS] = hooks
    write_stack(project, "dev", config)


def test_ignore_changes_keeps_the_old_value_and_sends_nothing(
    tmp_path: Path, emulator: EmulatorProcess
) -> None:
    project = options_project(tmp_path, {"a": {"description": "first", "ignore": ["description"]}})
    h = Harness(project, tmp_path / "state", env=emulator_env(emulator))
    assert h.up("dev", skip_preview=True).ok
    set_hooks(project, {"a": {"description": "second", "ignore": ["description"]}})
    emulator.clear_log()
    result = h.up("dev")
    assert result.ok, result.output
    assert {s.op for s in result.steps} == {"same"}
    assert dfns_calls(emulator) == []
    [hook] = emulator.webhooks()
    assert hook["description"] == "first"
    # processIgnoreChanges: the stored input is the old value.
    assert h.checkpoint("dev").custom_resources()[0].inputs["description"] == "first"
    # Without the option the same change is an update (the option is what held it).
    set_hooks(project, {"a": {"description": "second"}})
    updated = h.up("dev", skip_preview=True)
    assert updated.ok, updated.output
    assert updated.ops("update") == ["a"]
    assert emulator.webhooks()[0]["description"] == "second"
    assert h.destroy("dev").ok


def test_protect_refuses_the_delete_until_unprotected(
    tmp_path: Path, emulator: EmulatorProcess
) -> None:
    project = options_project(tmp_path, {"keep": {"protect": True}})
    h = Harness(project, tmp_path / "state", env=emulator_env(emulator))
    assert h.up("dev", skip_preview=True).ok
    [hook] = emulator.webhooks()
    assert h.checkpoint("dev").custom_resources()[0].protect
    # A secret roll replaces the webhook, which entails a delete: refused while protected.
    set_hooks(project, {"keep": {"protect": True, "secretVersion": "2"}})
    rolled = h.up("dev", skip_preview=True)
    assert not rolled.ok
    assert "unable to replace resource" in rolled.output
    assert "marked for protection" in rolled.output
    assert list(held(emulator)) == [hook["id"]]
    # Removed from the program: the delete is refused, in the preview already.
    set_hooks(project, {})
    removed = h.up("dev")
    assert not removed.ok
    assert "cannot be deleted" in removed.output
    assert "because it is protected" in removed.output
    assert "pulumi state unprotect" in removed.output
    destroyed = h.destroy("dev")
    assert not destroyed.ok
    assert "because it is protected" in destroyed.output
    assert list(held(emulator)) == [hook["id"]]
    assert [r.id for r in h.checkpoint("dev").custom_resources()] == [hook["id"]]
    # The way out the message gives: remove `protect`, `pulumi up`, then delete.
    set_hooks(project, {"keep": {}})
    assert h.up("dev", skip_preview=True).ok
    assert not h.checkpoint("dev").custom_resources()[0].protect
    gone = h.destroy("dev")
    assert gone.ok, gone.output
    assert emulator.webhooks() == []


def test_retain_on_delete_leaves_the_webhook_in_dfns(
    tmp_path: Path, emulator: EmulatorProcess
) -> None:
    project = options_project(tmp_path, {"kept": {"retain": True}, "other": {"retain": True}})
    h = Harness(project, tmp_path / "state", env=emulator_env(emulator))
    assert h.up("dev", skip_preview=True).ok
    ids = {r.name: r.id for r in h.checkpoint("dev").custom_resources()}
    # Removed from the program: dropped from the state, not deleted in Dfns.
    set_hooks(project, {"other": {"retain": True}})
    emulator.clear_log()
    removed = h.up("dev")
    assert removed.ok, removed.output
    assert removed.ops("delete") == ["kept"]
    assert [m for m, _ in dfns_calls(emulator) if m == "DELETE"] == []
    assert set(held(emulator)) == set(ids.values())
    assert [r.name for r in h.checkpoint("dev").custom_resources()] == ["other"]
    # destroy too: nothing deleted in Dfns, the state emptied.
    destroyed = h.destroy("dev")
    assert destroyed.ok, destroyed.output
    assert set(held(emulator)) == set(ids.values())
    assert h.checkpoint("dev").resources == []


def test_a_lookup_reads_once_per_run_is_external_and_survives_destroy(
    tmp_path: Path, emulator: EmulatorProcess
) -> None:
    made = emulator.client().create_webhook("https://receiver.example/dfns/shared", ["*"])
    project = program_project(tmp_path / "project", LOOKUP_PROGRAM, {})
    config = read_stack(project)
    config["harness-program:sharedId"] = made["id"]
    write_stack(project, "dev", config)
    h = Harness(project, tmp_path / "state", env=emulator_env(emulator))
    get = ("GET", f"/webhooks/{made['id']}")

    emulator.clear_log()
    preview = h.preview("dev")
    assert preview.ok, preview.output
    assert dfns_calls(emulator) == [get]  # read steps run in previews too

    emulator.clear_log()
    up = h.up("dev", skip_preview=True)
    assert up.ok, up.output
    assert dfns_calls(emulator) == [get]
    assert " >  pulumi-python:dynamic/dfns:Webhook shared read" in up.output
    assert h.checkpoint("dev").stack_outputs()["sharedUrl"] == made["url"]
    [shared] = h.checkpoint("dev").custom_resources()
    assert shared.external and shared.id == made["id"]
    assert shared.outputs.get("secret") is None  # Dfns returns a secret only at creation

    emulator.clear_log()
    again = h.up("dev")  # its preview, then the update: one GET each
    assert again.ok, again.output
    assert dfns_calls(emulator) == [get, get]

    emulator.clear_log()
    destroyed = h.destroy("dev")
    assert destroyed.ok, destroyed.output
    assert dfns_calls(emulator) == []  # an external resource is never deleted
    assert " <  pulumi-python:dynamic/dfns:Webhook shared discarded" in destroyed.output
    assert list(held(emulator)) == [made["id"]]
    assert h.checkpoint("dev").resources == []


def test_adopt_secret_becomes_the_secret_output_and_stays_secret(
    tmp_path: Path, emulator: EmulatorProcess
) -> None:
    made = emulator.client().create_webhook("https://receiver.example/dfns/adopted", ["*"])
    known = made["secret"]
    project = program_project(
        tmp_path / "project",
        ADOPT_PROGRAM,
        {
            "harness-program:adoptId": made["id"],
            "harness-program:adoptSecret": {"secure": "v1:in-the-environment"},
        },
    )
    env = emulator_env(
        emulator, **{SECRETS_ENV: json.dumps({"harness-program:adoptSecret": known})}
    )
    h = Harness(project, tmp_path / "state", env=env)
    up = h.up("dev")
    assert up.ok, up.output
    [hook] = h.checkpoint("dev").custom_resources()
    assert hook.id == made["id"]
    assert is_secret(hook.outputs["secret"]) and hook.outputs["secret"]["value"] == known
    assert is_secret(hook.inputs["adopt_secret"])
    assert is_secret(h.checkpoint("dev").stack_outputs()["secret"])
    shown = h.stack_output("dev")
    assert "[secret]" in shown.output
    seen = "\n".join(
        [checkpoint_text(h), up.output, shown.output, *up.provider_stderr, *up.program_output]
    )
    assert known not in seen
    assert h.destroy("dev").ok
    assert emulator.webhooks() == []


def test_track_deliveries_costs_one_more_get_per_tracked_webhook_at_refresh(
    tmp_path: Path, emulator: EmulatorProcess
) -> None:
    project = program_project(tmp_path / "project", TRACK_PROGRAM, {})
    h = Harness(project, tmp_path / "state", env=emulator_env(emulator))
    assert h.up("dev", skip_preview=True).ok
    ids = {r.name: r.id for r in h.checkpoint("dev").custom_resources()}
    emulator.clear_log()
    refreshed = h.refresh("dev", skip_preview=True)
    assert refreshed.ok, refreshed.output
    calls = dfns_calls(emulator)
    assert all(method == "GET" for method, _ in calls)
    assert sorted(path for _, path in calls) == sorted(
        [
            f"/webhooks/{ids['plain']}",
            f"/webhooks/{ids['tracked']}",
            f"/webhooks/{ids['tracked']}/events",
        ]
    )
    tracked = next(r for r in h.checkpoint("dev").custom_resources() if r.name == "tracked")
    assert tracked.outputs["failed_deliveries"] == 0
    assert h.destroy("dev").ok
