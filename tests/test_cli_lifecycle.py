"""The reference project's dev stack through the offline engine (tests/harness), as the
CLI runs it: the real program, the provider started as the CLI's shim starts it, the
engine's step rules, a checkpoint. Each test has its own emulator, project and state,
and builds what it starts from (`world`: the dev stack after its first `up`), so
any order, `-k` or xdist worker runs it the same (CI runs the suite in random order)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.harness import Harness, Result
from tests.harness.wire import SECRET_SIG, SIG, is_secret
from tests.support.cli_project import (
    checkpoint_text,
    emulator_env,
    read_stack,
    reference_project,
    webhooks_in_state,
    write_stack,
)
from tests.support.emulator import EmulatorProcess

WEBHOOKS = "dfns-webhooks:webhooks"
TYPE = "pulumi-python:dynamic/dfns:Webhook"


@dataclass
class World:
    emulator: EmulatorProcess
    project: Path
    h: Harness

    def webhooks(self) -> dict[str, dict[str, Any]]:
        """What Dfns holds, by description's owner: url -> webhook."""
        return {w["id"]: w for w in self.emulator.webhooks()}

    def config(self) -> dict[str, Any]:
        hooks: dict[str, Any] = read_stack(self.project)[WEBHOOKS]
        return hooks

    def set_webhooks(self, hooks: dict[str, Any]) -> None:
        config = read_stack(self.project)
        config[WEBHOOKS] = hooks
        write_stack(self.project, "dev", config)

    def dfns_requests(self) -> list[dict[str, Any]]:
        return [r for r in self.emulator.requests_log() if not r["path"].startswith("/_emulator")]


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[World]:
    """A fresh emulator and a fresh copy of the reference project, nothing deployed."""
    emulator = EmulatorProcess(tmp_path / "emulator").start()
    project = reference_project(tmp_path / "project")
    try:
        yield World(
            emulator, project, Harness(project, tmp_path / "state", env=emulator_env(emulator))
        )
    finally:
        emulator.stop()


@pytest.fixture
def world(fresh: World) -> World:
    """The dev stack after its first `up` (what test_first_up_of_the_dev_stack checks)."""
    first = fresh.h.up("dev", skip_preview=True)
    assert first.ok, first.output
    return fresh


def secrets_of(result: Result) -> dict[str, str]:
    return {
        r.name: r.outputs["secret"]["value"]
        for r in result.checkpoint.custom_resources()
        if is_secret(r.outputs.get("secret"))
    }


def assert_secrets_hidden(world: World, result: Result) -> None:
    """Every webhook secret is secret-marked in the checkpoint and in no plaintext."""
    raw = checkpoint_text(world.h)
    for resource in result.checkpoint.custom_resources():
        secret = resource.outputs["secret"]
        assert is_secret(secret), resource.urn
        assert secret["value"] not in raw
        assert secret["value"] not in result.output
        assert secret["value"] not in "\n".join(result.provider_stderr)
    assert f'"{SIG}": "{SECRET_SIG}"' in raw


def test_first_up_of_the_dev_stack(fresh: World) -> None:
    world = fresh
    result = world.h.up("dev")
    assert result.ok, result.output
    assert " +  pulumi-python:dynamic/dfns:Webhook payments created" in result.output
    assert "+ 3 created" in result.output
    assert "webhookSecrets: [secret]" in result.output
    held = world.emulator.webhooks()
    assert sorted((w["url"], w["status"]) for w in held) == [
        ("https://receiver.example/dfns/audit", "Disabled"),
        ("https://receiver.example/dfns/payments", "Enabled"),
    ]
    state = webhooks_in_state(world.h)
    assert {v["id"] for v in state.values()} == {w["id"] for w in held}
    # Check's answer is what is stored as inputs: events sorted, status defaulted.
    assert state["payments"]["inputs"]["status"] == "Enabled"
    assert state["payments"]["inputs"]["events"] == sorted(world.config()["payments"]["events"])
    assert is_secret(state["payments"]["inputs"]["__provider"])
    outputs = result.checkpoint.stack_outputs()
    assert outputs["webhookIds"] == {name: v["id"] for name, v in state.items()}
    assert is_secret(outputs["webhookSecrets"])
    assert_secrets_hidden(world, result)


def test_a_no_change_preview_sends_nothing_to_dfns_and_shows_no_diff(world: World) -> None:
    world.emulator.clear_log()
    result = world.h.preview("dev")
    assert result.ok, result.output
    assert world.dfns_requests() == []
    assert {s.op for s in result.steps} == {"same"}
    assert "3 unchanged" in result.output
    assert " ~ " not in result.output and " + " not in result.output


def test_preview_with_refresh_reads_each_webhook_once(world: World) -> None:
    world.emulator.clear_log()
    result = world.h.preview("dev", refresh=True)
    assert result.ok, result.output
    calls = [(r["method"], r["path"]) for r in world.dfns_requests()]
    assert sorted(calls) == sorted(
        ("GET", f"/webhooks/{v['id']}") for v in webhooks_in_state(world.h).values()
    )
    assert {s.op for s in result.steps} == {"same"}


def test_reordered_events_are_no_diff(world: World) -> None:
    hooks = world.config()
    hooks["payments"]["events"] = list(reversed(hooks["payments"]["events"]))
    world.set_webhooks(hooks)
    world.emulator.clear_log()
    result = world.h.up("dev")
    assert result.ok, result.output
    assert {s.op for s in result.steps} == {"same"}
    assert world.dfns_requests() == []


def test_an_update_changes_only_what_changed(world: World) -> None:
    before = secrets_of(world.h.up("dev", skip_preview=True))
    ids = {w["id"] for w in world.emulator.webhooks()}
    hooks = world.config()
    hooks["payments"]["description"] = "Payments service, v2"
    world.set_webhooks(hooks)
    world.emulator.clear_log()
    result = world.h.up("dev")
    assert result.ok, result.output
    assert "~  pulumi-python:dynamic/dfns:Webhook payments updated [diff: ~description]" in (
        result.output
    )
    assert result.ops("update") == ["payments"]
    puts = [r for r in world.dfns_requests() if r["method"] == "PUT"]
    assert len(puts) == 1
    assert {w["id"] for w in world.emulator.webhooks()} == ids
    held = {w["url"]: w for w in world.emulator.webhooks()}
    assert held["https://receiver.example/dfns/payments"]["description"] == "Payments service, v2"
    state = webhooks_in_state(world.h)
    assert state["payments"]["outputs"]["description"] == "Payments service, v2"
    # Dfns returns no secret on update: the one in state is carried over.
    assert secrets_of(result) == before
    assert_secrets_hidden(world, result)


def test_rolling_one_webhook_creates_the_new_one_before_deleting_the_old(world: World) -> None:
    old = webhooks_in_state(world.h)
    old_secrets = secrets_of(world.h.up("dev", skip_preview=True))
    hooks = world.config()
    hooks["payments"]["secretVersion"] = "2"
    world.set_webhooks(hooks)
    world.emulator.clear_log()
    result = world.h.up("dev")
    assert result.ok, result.output
    # The old inputs had no secret_version: shown as added, as the real CLI shows it.
    assert "+- pulumi-python:dynamic/dfns:Webhook payments replaced [diff: +secret_version]" in (
        result.output
    )
    new = webhooks_in_state(world.h)
    assert new["payments"]["id"] != old["payments"]["id"]
    assert new["audit"]["id"] == old["audit"]["id"]
    held = {w["id"] for w in world.emulator.webhooks()}
    assert held == {new["payments"]["id"], new["audit"]["id"]}
    calls = [(r["method"], r["path"]) for r in world.dfns_requests()]
    create = calls.index(("POST", "/webhooks"))
    delete = calls.index(("DELETE", f"/webhooks/{old['payments']['id']}"))
    assert create < delete  # create-before-delete: the old one goes at the end
    assert secrets_of(result)["payments"] != old_secrets["payments"]
    assert not any(r.delete for r in result.checkpoint.resources)
    assert_secrets_hidden(world, result)


def test_rolling_all_webhooks_past_the_limit_then_delete_before_replace(world: World) -> None:
    hooks = world.config()
    for name in ("c", "d"):
        hooks[name] = {"url": f"https://receiver.example/dfns/{name}", "events": ["*"]}
    world.set_webhooks(hooks)
    assert world.h.up("dev", skip_preview=True).ok
    assert len(world.emulator.webhooks()) == 4
    before = webhooks_in_state(world.h)
    # Roll all four: create-before-delete needs 4 in use + 4 new > 5.
    for spec in hooks.values():
        spec["secretVersion"] = "3"
    world.set_webhooks(hooks)
    failed = world.h.up("dev")
    assert not failed.ok
    assert "webhook limit" in failed.output and "delete_before_replace" in failed.output
    assert "error: update failed" in failed.output
    assert len(world.emulator.webhooks()) == 5  # 4 + the one replacement that fit
    pending = [r for r in failed.checkpoint.resources if r.delete]
    assert len(pending) == 1  # its old webhook waits for the end of a deployment
    assert pending[0].id in {w["id"] for w in world.emulator.webhooks()}
    # The way out the message gives, in the reference program's config.
    for spec in hooks.values():
        spec["deleteBeforeReplace"] = True
    world.set_webhooks(hooks)
    world.emulator.clear_log()
    result = world.h.up("dev")
    assert result.ok, result.output
    after = webhooks_in_state(world.h)
    # delete_before_replace: each of the three not yet rolled is deleted before its
    # successor is made (5 in use never grows to 6); the pending delete left by the
    # failed run goes at the end of the deployment. The harness runs steps one at a time
    # (DELETE, POST three times); the real engine runs the three deletes, then the three
    # creates, in parallel (tests/test_realcli_lifecycle.py): only the bound is common.
    calls = [(r["method"], r["path"]) for r in world.dfns_requests()]
    kinds = [m for m, path in calls if m == "DELETE" or (m, path) == ("POST", "/webhooks")]
    assert sorted(kinds) == ["DELETE"] * 4 + ["POST"] * 3
    in_use = [5 + kinds[: i + 1].count("POST") - kinds[: i + 1].count("DELETE") for i in range(7)]
    assert max(in_use) == 5
    last_delete = max(i for i, (m, _) in enumerate(calls) if m == "DELETE")
    assert calls[last_delete] == ("DELETE", f"/webhooks/{pending[0].id}")
    assert all(after[n]["id"] != before[n]["id"] for n in before)
    assert {w["id"] for w in world.emulator.webhooks()} == {v["id"] for v in after.values()}
    assert not any(r.delete for r in result.checkpoint.resources)
    # Taking c and d out of the program deletes them.
    for name in ("c", "d"):
        del hooks[name]
    world.set_webhooks(hooks)
    shrink = world.h.up("dev", skip_preview=True)
    assert shrink.ok, shrink.output
    assert shrink.ops("delete") == ["c", "d"]
    assert len(world.emulator.webhooks()) == 2


def test_a_roll_that_reaches_the_limit_exactly_succeeds(world: World) -> None:
    """The other side of the limit arithmetic: 3 in use + 2 rolled at once = 5."""
    hooks = world.config()
    hooks["c"] = {"url": "https://receiver.example/dfns/c", "events": ["*"]}
    world.set_webhooks(hooks)
    assert world.h.up("dev", skip_preview=True).ok
    assert len(world.emulator.webhooks()) == 3
    before = webhooks_in_state(world.h)
    for name in ("payments", "audit"):
        hooks[name].pop("deleteBeforeReplace", None)
        hooks[name]["secretVersion"] = "4"
    world.set_webhooks(hooks)
    result = world.h.up("dev", skip_preview=True)
    assert result.ok, result.output
    assert result.ops("replace") == ["audit", "payments"]
    after = webhooks_in_state(world.h)
    assert {w["id"] for w in world.emulator.webhooks()} == {v["id"] for v in after.values()}
    assert after["c"]["id"] == before["c"]["id"]
    del hooks["c"]
    world.set_webhooks(hooks)
    assert world.h.up("dev", skip_preview=True).ok
    assert len(world.emulator.webhooks()) == 2


def test_drift_made_outside_is_found_by_refresh_and_reverted_by_up(world: World) -> None:
    state = webhooks_in_state(world.h)
    client = world.emulator.client()
    held = client.get_webhook(state["audit"]["id"])
    client.update_webhook(
        held["id"],
        url=held["url"],
        events=held["events"],
        status=held["status"],
        description="changed in the dashboard",
    )
    world.emulator.clear_log()
    result = world.h.refresh("dev")
    assert result.ok, result.output
    assert " ~  pulumi-python:dynamic/dfns:Webhook audit updated" in result.output
    # Read twice: by the refresh's preview, then by the refresh itself.
    assert [(r["method"], r["path"]) for r in world.dfns_requests()].count(
        ("GET", f"/webhooks/{state['audit']['id']}")
    ) == 2
    refreshed = webhooks_in_state(world.h)
    assert refreshed["audit"]["outputs"]["description"] == "changed in the dashboard"
    assert is_secret(refreshed["audit"]["outputs"]["secret"])  # still marked after a read
    preview = world.h.preview("dev")
    assert "audit" in preview.ops("update"), preview.output
    result = world.h.up("dev", skip_preview=True)
    assert result.ok, result.output
    held = {w["id"]: w for w in world.emulator.webhooks()}
    assert held[state["audit"]["id"]]["description"] == "Everything, for the audit log"


def test_a_webhook_deleted_outside_leaves_the_state_at_refresh(world: World) -> None:
    state = webhooks_in_state(world.h)
    world.emulator.client().delete_webhook(state["audit"]["id"])
    result = world.h.refresh("dev")
    assert result.ok, result.output
    assert " -  pulumi-python:dynamic/dfns:Webhook audit deleted" in result.output
    assert "audit" not in webhooks_in_state(world.h)
    again = world.h.up("dev", skip_preview=True)
    assert again.ok, again.output
    assert again.ops("create") == ["audit"]
    recreated = webhooks_in_state(world.h)["audit"]["id"]
    assert recreated != state["audit"]["id"]
    assert recreated in {w["id"] for w in world.emulator.webhooks()}


def test_destroy_deletes_every_webhook_and_empties_the_state(world: World) -> None:
    result = world.h.destroy("dev")
    assert result.ok, result.output
    assert result.ops("delete") == ["audit", "dfns-webhooks-dev", "payments"]
    assert world.emulator.webhooks() == []
    assert world.h.checkpoint("dev").resources == []
