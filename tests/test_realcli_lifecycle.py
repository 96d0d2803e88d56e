"""The reference project's dev stack under the real `pulumi` CLI, from a fresh clone's
files: stack init, preview, up, a no-change preview, an update, `preview --diff`, a
secret roll, refresh with drift, `stack output --show-secrets`, destroy. Each asserts
the CLI's output and exit code, the Dfns requests (the emulator's log) and the state
(`pulumi stack export`). Each test builds what it needs on an emulator and project of
its own (a fresh stack, or one `stack init` + `up` away, as a user's earlier commands
would leave it), so they hold in any order and in parallel workers.

Path: `preview` and `up` on the inline Automation API language server (`--client`, see
tests/support/real_cli.py); `refresh`, `destroy`, `stack ...` on the CLI binary alone.
(The same scenarios through the offline harness: tests/test_cli_lifecycle.py.)
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.cli_project import read_stack, reference_project, write_stack
from tests.support.emulator import EmulatorProcess
from tests.support.real_cli import (
    Cli,
    cli_env,
    dfns_calls,
    dfns_secret,
    is_ciphertext,
    webhooks_of,
)

pytestmark = pytest.mark.realcli

WEBHOOKS = "dfns-webhooks:webhooks"
TYPE = "pulumi-python:dynamic/dfns:Webhook"
SIGNED = [("POST", "/auth/action/init"), ("POST", "/auth/action")]


def in_use(start: int, kinds: list[str]) -> list[int]:
    """Webhooks in use after each DELETE / POST of a sequence."""
    counts = [start]
    for kind in kinds:
        counts.append(counts[-1] + (1 if kind == "POST" else -1))
    return counts


@dataclass
class World:
    emulator: EmulatorProcess
    cli: Cli

    def config(self) -> dict[str, Any]:
        hooks: dict[str, Any] = read_stack(self.cli.project)[WEBHOOKS]
        return hooks

    def set_webhooks(self, hooks: dict[str, Any]) -> None:
        config = read_stack(self.cli.project)
        config[WEBHOOKS] = hooks
        write_stack(self.cli.project, "dev", config)

    def state(self) -> dict[str, dict[str, Any]]:
        return webhooks_of(self.cli.export())

    def held(self) -> dict[str, dict[str, Any]]:
        return {w["id"]: w for w in self.emulator.webhooks()}


@pytest.fixture
def world(pulumi_cli: Path, tmp_path: Path) -> Iterator[World]:
    """A fresh clone's project and an emulator: no stack yet."""
    emulator = EmulatorProcess(tmp_path / "emulator").start()
    project = reference_project(tmp_path / "project")
    try:
        yield World(emulator, Cli(pulumi_cli, project, tmp_path, cli_env(emulator)))
    finally:
        emulator.stop()


@pytest.fixture
def initialized(world: World) -> World:
    """After `pulumi stack init dev`."""
    result = world.cli.run("stack", "init", "dev")
    assert result.ok, result
    return world


@pytest.fixture
def deployed(initialized: World) -> World:
    """After `pulumi up`: the dev stack's webhooks in Dfns and in the state."""
    result = initialized.cli.run("up", "--stack", "dev", "--yes", "--skip-preview")
    assert result.ok, result
    return initialized


def test_stack_init_creates_an_empty_stack(world: World) -> None:
    result = world.cli.run("stack", "init", "dev")
    assert result.ok, result
    assert "Created stack 'dev'" in result.output
    assert world.cli.resources() == []
    # The passphrase secrets provider writes its salt into the stack's config file.
    assert "encryptionsalt: v1:" in (world.cli.project / "stacks" / "Pulumi.dev.yaml").read_text()


def test_a_first_preview_sends_nothing_to_dfns(initialized: World) -> None:
    world = initialized
    world.emulator.clear_log()
    result = world.cli.run("preview", "--stack", "dev")
    assert result.ok, result
    assert f" +  {TYPE} payments create" in result.output
    assert f" +  {TYPE} audit create" in result.output
    assert "+ 3 to create" in result.output
    assert dfns_calls(world.emulator) == []
    assert world.cli.resources() == []


def test_up_creates_each_webhook_with_one_signed_post(initialized: World) -> None:
    world = initialized
    world.emulator.clear_log()
    result = world.cli.run("up", "--stack", "dev", "--yes")
    assert result.ok, result
    assert f" +  {TYPE} payments created" in result.output
    assert "+ 3 created" in result.output
    assert "webhookSecrets: [secret]" in result.output
    calls = dfns_calls(world.emulator)
    assert sorted(calls) == sorted([*SIGNED, ("POST", "/webhooks")] * 2)
    state = world.state()
    held = world.held()
    assert {r["id"] for r in state.values()} == set(held)
    payments = state["payments"]
    # Check's answer is what is stored as inputs: events sorted, status defaulted.
    assert payments["inputs"]["status"] == "Enabled"
    assert payments["inputs"]["events"] == sorted(world.config()["payments"]["events"])
    assert is_ciphertext(payments["inputs"]["__provider"])
    assert is_ciphertext(payments["outputs"]["secret"])
    outputs = world.cli.export()["deployment"]["resources"][0]["outputs"]
    assert outputs["webhookIds"] == {name: r["id"] for name, r in state.items()}
    assert is_ciphertext(outputs["webhookSecrets"])
    for hook_id in held:
        assert dfns_secret(world.emulator, hook_id) not in result.output


def test_a_second_preview_expects_no_changes_and_sends_nothing(deployed: World) -> None:
    world = deployed
    world.emulator.clear_log()
    result = world.cli.run("preview", "--stack", "dev", "--expect-no-changes")
    assert result.ok, result
    assert "3 unchanged" in result.output
    assert f" ~  {TYPE}" not in result.output and f" +  {TYPE}" not in result.output
    assert dfns_calls(world.emulator) == []


def test_preview_with_refresh_reads_each_webhook_once(deployed: World) -> None:
    world = deployed
    world.emulator.clear_log()
    result = world.cli.run("preview", "--stack", "dev", "--refresh", "--expect-no-changes")
    assert result.ok, result
    assert sorted(dfns_calls(world.emulator)) == sorted(
        ("GET", f"/webhooks/{r['id']}") for r in world.state().values()
    )


def test_reordered_events_are_no_diff(deployed: World) -> None:
    world = deployed
    hooks = world.config()
    hooks["payments"]["events"] = list(reversed(hooks["payments"]["events"]))
    world.set_webhooks(hooks)
    world.emulator.clear_log()
    result = world.cli.run("up", "--stack", "dev", "--yes")
    assert result.ok, result
    assert "3 unchanged" in result.output
    assert dfns_calls(world.emulator) == []


def test_preview_diff_of_a_changed_description(deployed: World) -> None:
    world = deployed
    hooks = world.config()
    hooks["payments"]["description"] = "Payments service, v2"
    world.set_webhooks(hooks)
    world.emulator.clear_log()
    result = world.cli.run("preview", "--stack", "dev", "--diff")
    assert result.ok, result
    assert dfns_calls(world.emulator) == []
    assert f"~ {TYPE}: (update)" in result.output
    # What --diff shows: the changed input marked, old => new, the other inputs beside
    # it unmarked; the pickled provider (`__provider`) is not shown.
    assert '~ description: "Payments service" => "Payments service, v2"' in result.output
    assert '  status     : "Enabled"' in result.output
    assert '  url        : "https://receiver.example/dfns/payments"' in result.output
    assert "__provider" not in result.output
    assert "~ 1 to update" in result.output


def test_a_changed_description_is_one_signed_put(deployed: World) -> None:
    world = deployed
    hooks = world.config()
    hooks["payments"]["description"] = "Payments service, v2"
    world.set_webhooks(hooks)
    before = world.state()
    world.emulator.clear_log()
    result = world.cli.run("up", "--stack", "dev", "--yes")
    assert result.ok, result
    assert f" ~  {TYPE} payments updated" in result.output
    assert "[diff: ~description]" in result.output
    calls = dfns_calls(world.emulator)
    assert calls == [*SIGNED, ("PUT", f"/webhooks/{before['payments']['id']}")]
    held = world.held()
    assert held[before["payments"]["id"]]["description"] == "Payments service, v2"
    after = world.state()
    assert after["payments"]["outputs"]["description"] == "Payments service, v2"
    assert {n: r["id"] for n, r in after.items()} == {n: r["id"] for n, r in before.items()}


def test_a_secret_roll_creates_the_new_webhook_before_deleting_the_old(deployed: World) -> None:
    world = deployed
    old = world.state()
    old_secret = dfns_secret(world.emulator, old["payments"]["id"])
    hooks = world.config()
    hooks["payments"]["secretVersion"] = "2"
    world.set_webhooks(hooks)
    world.emulator.clear_log()
    result = world.cli.run("up", "--stack", "dev", "--yes")
    assert result.ok, result
    # The old inputs had no secret_version: the CLI shows it as added (+).
    for line in (
        f" ++ {TYPE} payments created replacement",
        f" +- {TYPE} payments replaced",
        f" -- {TYPE} payments deleted original",
    ):
        assert f"{line} (" in result.output and "[diff: +secret_version]" in result.output
    assert result.output.index("created replacement") < result.output.index("deleted original")
    assert "+-1 replaced" in result.output
    calls = dfns_calls(world.emulator)
    assert calls.index(("POST", "/webhooks")) < calls.index(
        ("DELETE", f"/webhooks/{old['payments']['id']}")
    )
    new = world.state()
    assert new["payments"]["id"] != old["payments"]["id"]
    assert new["audit"]["id"] == old["audit"]["id"]
    assert set(world.held()) == {new["payments"]["id"], new["audit"]["id"]}
    assert dfns_secret(world.emulator, new["payments"]["id"]) != old_secret
    assert not any(r.get("delete") for r in world.cli.resources())


def test_rolling_all_webhooks_past_the_limit_then_delete_before_replace(deployed: World) -> None:
    world = deployed
    hooks = world.config()
    for name in ("c", "d"):
        hooks[name] = {"url": f"https://receiver.example/dfns/{name}", "events": ["*"]}
    world.set_webhooks(hooks)
    assert world.cli.run("up", "--stack", "dev", "--yes", "--skip-preview").ok
    assert len(world.emulator.webhooks()) == 4
    before = world.state()
    # Roll all four: create-before-delete needs 4 in use + 4 new > 5.
    for spec in hooks.values():
        spec["secretVersion"] = "3"
    world.set_webhooks(hooks)
    failed = world.cli.run("up", "--stack", "dev", "--yes")
    assert failed.code != 0, failed
    assert "webhook limit" in failed.output and "delete_before_replace" in failed.output
    assert "error: update failed" in failed.output
    assert len(world.emulator.webhooks()) == 5  # 4 + the one replacement that fit
    pending = [r for r in world.cli.resources() if r.get("delete")]
    assert len(pending) == 1  # its old webhook waits for the end of a deployment
    assert pending[0]["id"] in {w["id"] for w in world.emulator.webhooks()}
    # The way out the message gives, in the reference program's config.
    for spec in hooks.values():
        spec["deleteBeforeReplace"] = True
    world.set_webhooks(hooks)
    world.emulator.clear_log()
    result = world.cli.run("up", "--stack", "dev", "--yes")
    assert result.ok, result
    after = world.state()
    calls = dfns_calls(world.emulator)
    kinds = [m for m, path in calls if m == "DELETE" or (m, path) == ("POST", "/webhooks")]
    # The engine runs independent steps in parallel: the three deletes, then the three
    # creates (each resource's delete before its create), then the pending delete. What
    # delete_before_replace promises: in use never above 5.
    assert sorted(kinds) == ["DELETE"] * 4 + ["POST"] * 3
    assert max(in_use(5, kinds)) == 5
    last_delete = max(i for i, (m, _) in enumerate(calls) if m == "DELETE")
    assert calls[last_delete] == ("DELETE", f"/webhooks/{pending[0]['id']}")
    assert all(after[n]["id"] != before[n]["id"] for n in before)
    assert set(world.held()) == {r["id"] for r in after.values()}
    assert not any(r.get("delete") for r in world.cli.resources())
    # Back to two webhooks: removing from the program deletes them.
    for name in ("c", "d"):
        del hooks[name]
    for spec in hooks.values():
        spec.pop("deleteBeforeReplace")
    world.set_webhooks(hooks)
    shrink = world.cli.run("up", "--stack", "dev", "--yes", "--skip-preview")
    assert shrink.ok, shrink
    assert f" -  {TYPE} c deleted" in shrink.output and f" -  {TYPE} d deleted" in shrink.output
    assert len(world.emulator.webhooks()) == 2


def test_a_roll_that_reaches_the_limit_exactly_succeeds(deployed: World) -> None:
    world = deployed
    """The other side of the limit arithmetic: 3 in use + 2 rolled at once = 5."""
    hooks = world.config()
    hooks["c"] = {"url": "https://receiver.example/dfns/c", "events": ["*"]}
    world.set_webhooks(hooks)
    assert world.cli.run("up", "--stack", "dev", "--yes", "--skip-preview").ok
    before = world.state()
    for name in ("payments", "audit"):
        hooks[name]["secretVersion"] = "4"
    world.set_webhooks(hooks)
    result = world.cli.run("up", "--stack", "dev", "--yes", "--skip-preview")
    assert result.ok, result
    assert "+-2 replaced" in result.output
    after = world.state()
    assert set(world.held()) == {r["id"] for r in after.values()}
    assert after["c"]["id"] == before["c"]["id"]
    del hooks["c"]
    world.set_webhooks(hooks)
    assert world.cli.run("up", "--stack", "dev", "--yes", "--skip-preview").ok
    assert len(world.emulator.webhooks()) == 2


def test_refresh_finds_drift_made_outside_and_up_reverts_it(deployed: World) -> None:
    world = deployed
    state = world.state()
    audit = state["audit"]["id"]
    client = world.emulator.client()
    hook = client.get_webhook(audit)
    client.update_webhook(
        audit,
        url=hook["url"],
        events=hook["events"],
        status=hook["status"],
        description="changed in the dashboard",
    )
    world.emulator.clear_log()
    result = world.cli.run("refresh", "--stack", "dev", "--yes")
    assert result.ok, result
    assert f" ~  {TYPE} audit updated" in result.output
    # Read twice: by the refresh's preview, then by the refresh itself.
    assert dfns_calls(world.emulator).count(("GET", f"/webhooks/{audit}")) == 2
    assert all(method == "GET" for method, _ in dfns_calls(world.emulator))
    refreshed = world.state()["audit"]
    assert refreshed["outputs"]["description"] == "changed in the dashboard"
    assert is_ciphertext(refreshed["outputs"]["secret"])  # still a secret after a read
    up = world.cli.run("up", "--stack", "dev", "--yes")
    assert up.ok, up
    assert f" ~  {TYPE} audit updated" in up.output
    assert world.held()[audit]["description"] == "Everything, for the audit log"


def test_stack_output_show_secrets_prints_the_secret_dfns_holds(deployed: World) -> None:
    world = deployed
    state = world.state()
    hidden = world.cli.run("stack", "output", "--stack", "dev")
    assert hidden.ok, hidden
    assert "webhookSecrets  [secret]" in hidden.output
    shown = world.cli.run(
        "stack", "output", "webhookSecrets", "--stack", "dev", "--show-secrets", "--json"
    )
    assert shown.ok, shown
    secrets = json.loads(shown.stdout)
    assert secrets == {name: dfns_secret(world.emulator, r["id"]) for name, r in state.items()}
    # ...and nowhere in the state in plain text.
    exported = json.dumps(world.cli.export())
    assert all(secret not in exported for secret in secrets.values())


def test_a_webhook_deleted_outside_leaves_the_state_at_refresh(deployed: World) -> None:
    world = deployed
    state = world.state()
    world.emulator.client().delete_webhook(state["audit"]["id"])
    result = world.cli.run("refresh", "--stack", "dev", "--yes")
    assert result.ok, result
    assert f" -  {TYPE} audit deleted" in result.output
    assert "audit" not in world.state()
    again = world.cli.run("up", "--stack", "dev", "--yes", "--skip-preview")
    assert again.ok, again
    assert f" +  {TYPE} audit created" in again.output
    recreated = world.state()["audit"]["id"]
    assert recreated != state["audit"]["id"]
    assert recreated in world.held()


def test_destroy_deletes_every_webhook_and_empties_the_state(deployed: World) -> None:
    world = deployed
    ids = {r["id"] for r in world.state().values()}
    world.emulator.clear_log()
    result = world.cli.run("destroy", "--stack", "dev", "--yes")
    assert result.ok, result
    assert "- 3 deleted" in result.output
    deletes = sorted(path for method, path in dfns_calls(world.emulator) if method == "DELETE")
    assert deletes == sorted(f"/webhooks/{i}" for i in ids)
    assert world.emulator.webhooks() == []
    assert world.cli.resources() == []
