"""Moving a `DfnsWebhook` stack to `dfns:index:Webhook`, through the real `pulumi` CLI.

Path: the Python Automation API's inline program (`program=`; the real Python language
host cannot be had here, README "The provider plugin") driving the real CLI binary, the
dynamic provider's bundled plugin `pulumi-resource-pulumi-python` (from the CLI's Go
module `sdk/v3`, python/dist/) and `pulumi-resource-dfns`, against the emulator.

The switch (README "Moving a stack to the plugin"): the program declares
`pulumi_dfns.sdk.Webhook` under the same name. Its alias from the dynamic type moves
the resource in place: one update, the same id and secret, no request to Dfns, and a
preview that replaces nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.emulator import EmulatorProcess
from tests.support.plugin_cli import inline_stack, tools

# The real CLI, found or built once per session by tests/conftest.py.
pytestmark = pytest.mark.realcli

HOOK = "https://hooks.example.com/dfns"
# The key of a secret-marked value in state (sdk/go/common/resource/sig: Secret).
SECRET_SIG = "4dabf18193072939515e22adb298388d"


def dynamic_program() -> None:
    import pulumi

    from pulumi_dfns import DfnsWebhook

    hook = DfnsWebhook("hook", url=HOOK, events=["wallet.created"], description="moving")
    pulumi.export("id", hook.id)
    pulumi.export("secret", hook.secret)


def plugin_program() -> None:
    import pulumi

    from pulumi_dfns.sdk import Webhook

    hook = Webhook("hook", url=HOOK, events=["wallet.created"], description="moving")
    pulumi.export("id", hook.id)
    pulumi.export("secret", hook.secret)
    pulumi.export("created", hook.date_created)


def test_a_dynamic_stack_moves_to_the_plugin_in_one_update_without_dfns(
    tmp_path: Path, emulator: EmulatorProcess
) -> None:
    found = tools()
    stack = inline_stack(tmp_path, found, emulator, dynamic_program)
    before = stack.up().outputs
    hook_id, secret = before["id"].value, before["secret"].value
    assert hook_id.startswith("wh-") and secret

    stack.workspace.program = plugin_program
    emulator.clear_log()
    preview = stack.preview(diff=True)
    assert preview.change_summary.get("replace", 0) == 0, preview.stdout
    assert preview.change_summary.get("update") == 1, preview.change_summary
    result = stack.up()
    assert emulator.requests_log() == []  # not one request to Dfns, signing included
    assert result.summary.resource_changes == {"update": 1, "same": 1}
    after = result.outputs
    assert (after["id"].value, after["secret"].value) == (hook_id, secret)
    assert after["created"].value  # an output only the plugin's state names dateCreated

    state = stack.export_stack().deployment["resources"]
    [moved] = [r for r in state if r["urn"].endswith("::hook")]
    assert moved["type"] == "dfns:index:Webhook"
    assert "__provider" not in moved["outputs"] and "date_created" not in moved["outputs"]
    # Secret-marked (the Automation API's export shows secrets decrypted, under the sig).
    assert SECRET_SIG in moved["outputs"]["secret"]
    assert [w["id"] for w in emulator.webhooks()] == [hook_id]

    # Settled: the next preview changes nothing.
    emulator.clear_log()
    again = stack.preview()
    assert set(again.change_summary) == {"same"}, again.change_summary
    assert emulator.requests_log() == []


def test_the_way_back_is_one_update_without_dfns_too(
    tmp_path: Path, emulator: EmulatorProcess
) -> None:
    """A stack moved to the plugin goes back to DfnsWebhook by an alias from the plugin's
    type: one update, the same id and secret, no request to Dfns (README)."""
    found = tools()
    stack = inline_stack(tmp_path, found, emulator, plugin_program)
    before = stack.up().outputs

    def back() -> None:
        import pulumi

        from pulumi_dfns import DfnsWebhook

        hook = DfnsWebhook(
            "hook",
            url=HOOK,
            events=["wallet.created"],
            description="moving",
            opts=pulumi.ResourceOptions(aliases=[pulumi.Alias(type_="dfns:index:Webhook")]),
        )
        pulumi.export("id", hook.id)
        pulumi.export("secret", hook.secret)

    stack.workspace.program = back
    emulator.clear_log()
    preview = stack.preview()
    assert preview.change_summary.get("replace", 0) == 0, preview.stdout
    result = stack.up()
    assert emulator.requests_log() == []
    assert result.summary.resource_changes == {"update": 1, "same": 1}
    assert (result.outputs["id"].value, result.outputs["secret"].value) == (
        before["id"].value,
        before["secret"].value,
    )
    [moved] = [
        r for r in stack.export_stack().deployment["resources"] if r["urn"].endswith("::hook")
    ]
    assert moved["type"] == "pulumi-python:dynamic/dfns:Webhook"
    assert "__provider" in moved["outputs"] and "date_created" in moved["outputs"]
    # The dynamic provider finds itself again: a refresh reads through it.
    emulator.clear_log()
    stack.refresh()
    assert {f"{r['method']} {r['path']}" for r in emulator.requests_log()} == {
        f"GET /webhooks/{before['id'].value}"
    }


def test_python_programs_use_explicit_providers_and_lookups(
    tmp_path: Path, emulator: EmulatorProcess, start_emulator: Callable[..., EmulatorProcess]
) -> None:
    """pulumi_dfns.sdk from a Python program: a second organisation through `Provider`
    (its token a secret in state), and `Webhook.get`."""
    found = tools()
    other = start_emulator()
    theirs = other.client().create_webhook(HOOK, ["key.created"], description="theirs")
    creds = other.config()

    def program() -> None:
        import pulumi

        from pulumi_dfns.sdk import Provider, Webhook

        org_b = Provider(
            "org-b",
            api_url=creds["dfns:apiUrl"],
            auth_token=creds["dfns:authToken"],
            credential_id=creds["dfns:credentialId"],
            private_key_file=creds["dfns:privateKeyFile"],
        )
        # The same organisation declared as another tool might (no SDK, the token a
        # plain value): the plugin's CheckConfig keeps it secret in the state.
        pulumi.ProviderResource(
            "dfns", "raw", {key.split(":", 1)[1]: value for key, value in creds.items()}
        )
        in_b = pulumi.ResourceOptions(provider=org_b)
        mine = Webhook("mine", url=HOOK, events=["wallet.created"])
        b = Webhook("b", url=HOOK, events=["wallet.created"], opts=in_b)
        found = Webhook.get("found", theirs["id"], opts=in_b)
        pulumi.export("mine", mine.id)
        pulumi.export("b", b.id)
        pulumi.export("found", found.description)

    stack = inline_stack(tmp_path, found, emulator, program)
    outputs = stack.up().outputs
    assert [w["id"] for w in emulator.webhooks()] == [outputs["mine"].value]
    assert sorted(w["id"] for w in other.webhooks()) == sorted([outputs["b"].value, theirs["id"]])
    assert outputs["found"].value == "theirs"
    exported = stack.export_stack().deployment["resources"]
    for name in ("org-b", "raw"):
        [provider] = [r for r in exported if r["urn"].endswith(f"pulumi:providers:dfns::{name}")]
        assert SECRET_SIG in provider["inputs"]["authToken"], name
    stack.destroy()
    assert emulator.webhooks() == [] and [w["id"] for w in other.webhooks()] == [theirs["id"]]
