"""Resource options and `DfnsWebhook.get` under the real `pulumi` CLI: each docs/cli.md row
(ignore_changes, protect, retain_on_delete, delete_before_replace) and a lookup, checked
by the CLI's output and exit code, the Dfns requests and `pulumi stack export`.

Path: `preview` and `up` on the inline Automation API language server (`--client`);
`destroy` and `stack export` on the CLI binary alone.
(The same through the offline harness: tests/test_cli_options.py.)
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.cli_project import program_project, read_stack, write_stack
from tests.support.emulator import EmulatorProcess
from tests.support.real_cli import Cli, cli_env, dfns_calls, webhooks_of
from tests.test_cli_options import LOOKUP_PROGRAM

pytestmark = pytest.mark.realcli

TYPE = "pulumi-python:dynamic/dfns:Webhook"
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
            delete_before_replace=spec.get("dbr", False),
        ),
    )
    pulumi.export(name, hook.id)
"""


@pytest.fixture(autouse=True)
def nothing_left(emulator: EmulatorProcess) -> Iterator[None]:
    """Each scenario starts with no webhook in Dfns (the 5-webhook limit is shared)."""
    yield
    client = emulator.client()
    for hook in client.list_webhooks():
        client.delete_webhook(hook["id"])


def options_cli(pulumi_cli: Path, tmp_path: Path, emulator: EmulatorProcess, hooks: Any) -> Cli:
    project = program_project(tmp_path / "project", OPTIONS_PROGRAM, {HOOKS: hooks})
    cli = Cli(pulumi_cli, project, tmp_path, cli_env(emulator))
    assert cli.run("stack", "init", "dev").ok
    return cli


def set_hooks(cli: Cli, hooks: dict[str, Any]) -> None:
    config = read_stack(cli.project)
    config[HOOKS] = hooks
    write_stack(cli.project, "dev", config)


def up(cli: Cli) -> str:
    result = cli.run("up", "--stack", "dev", "--yes")
    assert result.ok, result
    return result.output


def held(emulator: EmulatorProcess) -> set[str]:
    return {w["id"] for w in emulator.webhooks()}


def test_ignore_changes_keeps_the_old_value_and_sends_nothing(
    pulumi_cli: Path, tmp_path: Path, emulator: EmulatorProcess
) -> None:
    cli = options_cli(
        pulumi_cli, tmp_path, emulator, {"a": {"description": "first", "ignore": ["description"]}}
    )
    up(cli)
    set_hooks(cli, {"a": {"description": "second", "ignore": ["description"]}})
    emulator.clear_log()
    preview = cli.run("preview", "--stack", "dev", "--expect-no-changes")
    assert preview.ok, preview
    output = up(cli)
    assert "2 unchanged" in output
    assert dfns_calls(emulator) == []
    assert [w["description"] for w in emulator.webhooks()] == ["first"]
    assert webhooks_of(cli.export())["a"]["inputs"]["description"] == "first"
    # Without the option the same change is an update: the option is what held it.
    set_hooks(cli, {"a": {"description": "second"}})
    assert f" ~  {TYPE} a updated" in up(cli)
    assert [w["description"] for w in emulator.webhooks()] == ["second"]
    assert cli.run("destroy", "--stack", "dev", "--yes").ok


def test_protect_refuses_the_delete_until_unprotected(
    pulumi_cli: Path, tmp_path: Path, emulator: EmulatorProcess
) -> None:
    cli = options_cli(pulumi_cli, tmp_path, emulator, {"keep": {"protect": True}})
    up(cli)
    [hook] = held(emulator)
    assert webhooks_of(cli.export())["keep"]["protect"] is True
    # A secret roll replaces the webhook, which entails a delete: refused.
    set_hooks(cli, {"keep": {"protect": True, "secretVersion": "2"}})
    rolled = cli.run("up", "--stack", "dev", "--yes")
    assert rolled.code != 0, rolled
    assert "unable to replace resource" in rolled.output
    assert "marked for protection" in rolled.output
    # Removed from the program: refused, in the preview already.
    set_hooks(cli, {})
    emulator.clear_log()
    preview = cli.run("preview", "--stack", "dev")
    assert preview.code != 0, preview
    assert "because it is protected" in preview.output
    assert "pulumi state unprotect" in preview.output
    destroyed = cli.run("destroy", "--stack", "dev", "--yes")
    assert destroyed.code != 0, destroyed
    assert "because it is protected" in destroyed.output
    assert dfns_calls(emulator) == []
    assert held(emulator) == {hook}
    # The way out the message gives: remove `protect`, `pulumi up`, then delete.
    set_hooks(cli, {"keep": {}})
    up(cli)
    assert "protect" not in webhooks_of(cli.export())["keep"]
    assert cli.run("destroy", "--stack", "dev", "--yes").ok
    assert held(emulator) == set()


def test_retain_on_delete_leaves_the_webhook_in_dfns(
    pulumi_cli: Path, tmp_path: Path, emulator: EmulatorProcess
) -> None:
    hooks = {"kept": {"retain": True}, "other": {"retain": True}}
    cli = options_cli(pulumi_cli, tmp_path, emulator, hooks)
    up(cli)
    ids = held(emulator)
    set_hooks(cli, {"other": {"retain": True}})
    emulator.clear_log()
    output = up(cli)
    assert f" -  {TYPE} kept deleted" in output
    assert [m for m, _ in dfns_calls(emulator) if m == "DELETE"] == []
    assert held(emulator) == ids
    assert list(webhooks_of(cli.export())) == ["other"]
    destroyed = cli.run("destroy", "--stack", "dev", "--yes")
    assert destroyed.ok, destroyed
    assert held(emulator) == ids
    assert webhooks_of(cli.export()) == {}


def test_delete_before_replace_deletes_the_old_webhook_first(
    pulumi_cli: Path, tmp_path: Path, emulator: EmulatorProcess
) -> None:
    cli = options_cli(pulumi_cli, tmp_path, emulator, {"a": {"dbr": True}})
    up(cli)
    [old] = held(emulator)
    set_hooks(cli, {"a": {"dbr": True, "secretVersion": "2"}})
    emulator.clear_log()
    output = up(cli)
    calls = dfns_calls(emulator)
    assert calls.index(("DELETE", f"/webhooks/{old}")) < calls.index(("POST", "/webhooks"))
    assert output.index("deleted original") < output.index("created replacement")
    [new] = held(emulator)
    assert new != old and webhooks_of(cli.export())["a"]["id"] == new
    assert cli.run("destroy", "--stack", "dev", "--yes").ok


def test_a_lookup_reads_once_per_run_is_external_and_survives_destroy(
    pulumi_cli: Path, tmp_path: Path, emulator: EmulatorProcess
) -> None:
    made = emulator.client().create_webhook("https://receiver.example/dfns/shared", ["*"])
    project = program_project(
        tmp_path / "project", LOOKUP_PROGRAM, {"harness-program:sharedId": made["id"]}
    )
    cli = Cli(pulumi_cli, project, tmp_path, cli_env(emulator))
    assert cli.run("stack", "init", "dev").ok
    get = ("GET", f"/webhooks/{made['id']}")
    emulator.clear_log()
    preview = cli.run("preview", "--stack", "dev")
    assert preview.ok, preview
    assert dfns_calls(emulator) == [get]  # read steps run in previews too
    emulator.clear_log()
    output = up(cli)  # its preview, then the update: one GET each
    assert dfns_calls(emulator) == [get, get]
    # The CLI shows the read on the stack's row (not as a row of its own).
    assert f"read {TYPE} shared" in output
    exported = cli.export()
    shared = webhooks_of(exported)["shared"]
    assert shared["external"] is True and shared["id"] == made["id"]
    assert shared["outputs"].get("secret") is None  # Dfns shows a secret only at creation
    stack = exported["deployment"]["resources"][0]
    assert stack["outputs"]["sharedUrl"] == made["url"]
    emulator.clear_log()
    destroyed = cli.run("destroy", "--stack", "dev", "--yes")
    assert destroyed.ok, destroyed
    assert dfns_calls(emulator) == []  # an external resource is never deleted
    assert held(emulator) == {made["id"]}
    assert webhooks_of(cli.export()) == {}
