"""`dfns:index:Webhook` through the real `pulumi` CLI: YAML programs, the provider plugin.

Path: the real CLI binary, the YAML language host, `pulumi-resource-dfns` (this
checkout's console script) and the emulator over loopback; plain `pulumi up`,
`preview`, `refresh`, `import` and `destroy` of a project (tests/support/plugin_cli.py).
The scenarios are the dynamic resource's (lifecycle, drift, roll, options, bad input,
secrets, a fault), plus what only a plugin can do: detailed diffs, replaceOnChanges,
customTimeouts, warnings on their resource, two organisations in one program, import
and lookups by id.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support.emulator import EmulatorProcess
from tests.support.plugin_cli import Tools, YamlProject, connection, tools
from tests.support.real_cli import SECRET_KEY

# The real CLI, found or built once per session by tests/conftest.py.
pytestmark = pytest.mark.realcli

HOOK = "https://hooks.example.com/dfns"
WEBHOOK = "dfns:index:Webhook"


@pytest.fixture(scope="module")
def found() -> Tools:
    return tools()


@pytest.fixture
def project(tmp_path: Path, found: Tools, emulator: EmulatorProcess) -> YamlProject:
    project = YamlProject(tmp_path, found)
    project.init(emulator)
    return project


def hook(**props: Any) -> dict[str, Any]:
    return {"type": WEBHOOK, "properties": {"url": HOOK, "events": ["wallet.created"], **props}}


def calls(emulator: EmulatorProcess, method: str | None = None, path: str = "") -> list[str]:
    """`METHOD path` of each request the emulator logged (the signing steps included)."""
    return [
        f"{item['method']} {item['path']}"
        for item in emulator.requests_log()
        if (method is None or item["method"] == method) and item["path"].startswith(path)
    ]


def webhook_calls(emulator: EmulatorProcess) -> list[str]:
    return [c for c in calls(emulator) if " /webhooks" in c]


def test_lifecycle_create_preview_update_destroy(
    project: YamlProject, emulator: EmulatorProcess
) -> None:
    project.write({"hook": hook(description="first")}, outputs={"id": "${hook.id}"})
    emulator.clear_log()
    project.up()
    assert webhook_calls(emulator) == ["POST /webhooks"]
    hook_id = project.outputs()["id"]
    held = {w["id"]: w for w in emulator.webhooks()}
    assert held[hook_id]["description"] == "first"
    state = project.resources()["hook"]
    assert state["id"] == hook_id
    # The schema's names in state, the secret marked.
    assert {"dateCreated", "secretVersion", "adoptWebhookId"} <= set(state["outputs"])
    assert "ciphertext" in state["outputs"]["secret"]

    emulator.clear_log()
    preview = project.run("preview", "--expect-no-changes")
    assert calls(emulator) == [], preview.stdout

    project.write({"hook": hook(description="second")}, outputs={"id": "${hook.id}"})
    emulator.clear_log()
    project.up()
    assert webhook_calls(emulator) == [f"PUT /webhooks/{hook_id}"]
    assert calls(emulator, "POST", "/auth/action") == [
        "POST /auth/action/init",
        "POST /auth/action",
    ]
    assert {w["id"]: w for w in emulator.webhooks()}[hook_id]["description"] == "second"

    emulator.clear_log()
    project.run("destroy", "--yes", "--skip-preview")
    assert webhook_calls(emulator) == [f"DELETE /webhooks/{hook_id}"]
    assert emulator.webhooks() == []
    assert project.resources() == {}


def test_preview_diff_is_per_property(project: YamlProject, emulator: EmulatorProcess) -> None:
    project.write({"hook": hook(description="first")})
    project.up()
    project.write({"hook": hook(description="second", secretVersion="2")})
    emulator.clear_log()
    preview = project.run("preview", "--diff").stdout
    assert calls(emulator) == []
    assert "+-dfns:index:Webhook: (replace)" in preview, preview
    assert re.search(r'~ description\s*: "first" => "second"', preview), preview
    assert re.search(r'\+ secretVersion\s*: "2"', preview), preview
    # Unchanged inputs are not listed, as a dynamic resource's whole inputs are.
    assert not re.search(r"\burl\s*:", preview), preview
    plain = project.run("preview").stdout
    assert (
        "[diff: ~description,secretVersion]" in plain
        or "[diff: +secretVersion~description]" in plain
    ), plain


def test_refresh_records_drift_and_up_puts_it_back(
    project: YamlProject, emulator: EmulatorProcess
) -> None:
    project.write({"hook": hook(description="mine")}, outputs={"id": "${hook.id}"})
    project.up()
    hook_id = project.outputs()["id"]
    emulator.client().update_webhook(
        hook_id,
        url=f"{HOOK}/moved",
        events=["wallet.created"],
        status="Disabled",
        description="mine",
    )
    emulator.clear_log()
    project.run("refresh", "--yes", "--skip-preview")
    assert webhook_calls(emulator) == [f"GET /webhooks/{hook_id}"]
    outputs = project.resources()["hook"]["outputs"]
    assert (outputs["url"], outputs["status"]) == (f"{HOOK}/moved", "Disabled")
    preview = project.run("preview", "--diff").stdout
    assert re.search(r'~ status\s*: "Disabled" => "Enabled"', preview), preview
    project.up()
    held = {w["id"]: w for w in emulator.webhooks()}[hook_id]
    assert (held["url"], held["status"]) == (HOOK, "Enabled")

    # Deleted outside Pulumi: a refresh drops it from the state.
    emulator.client().delete_webhook(hook_id)
    project.run("refresh", "--yes", "--skip-preview")
    assert project.resources() == {}


def test_a_secret_roll_creates_the_new_webhook_then_deletes_the_old(
    project: YamlProject, emulator: EmulatorProcess
) -> None:
    project.write({"hook": hook()}, outputs={"id": "${hook.id}", "secret": "${hook.secret}"})
    project.up()
    before = project.outputs(show_secrets=True)
    project.write(
        {"hook": hook(secretVersion="2")}, outputs={"id": "${hook.id}", "secret": "${hook.secret}"}
    )
    emulator.clear_log()
    project.up()
    after = project.outputs(show_secrets=True)
    assert after["id"] != before["id"] and after["secret"] != before["secret"]
    assert webhook_calls(emulator) == ["POST /webhooks", f"DELETE /webhooks/{before['id']}"]
    assert [w["id"] for w in emulator.webhooks()] == [after["id"]]


def test_options_replace_on_changes_delete_before_replace_and_protect(
    project: YamlProject, emulator: EmulatorProcess
) -> None:
    options = {"replaceOnChanges": ["description"], "deleteBeforeReplace": True}
    project.write(
        {"hook": {**hook(description="a"), "options": options}}, outputs={"id": "${hook.id}"}
    )
    project.up()
    first = project.outputs()["id"]
    project.write(
        {"hook": {**hook(description="b"), "options": options}}, outputs={"id": "${hook.id}"}
    )
    emulator.clear_log()
    project.up()
    second = project.outputs()["id"]
    # A description change is an update, but replaceOnChanges makes it a replacement
    # (the engine reads the plugin's detailed diff), and deleteBeforeReplace orders it.
    assert second != first
    assert webhook_calls(emulator) == [f"DELETE /webhooks/{first}", "POST /webhooks"]

    project.write({"hook": {**hook(description="b"), "options": {"protect": True}}})
    project.up()
    project.write({})
    refused = project.up(check=False)
    assert refused.returncode != 0
    assert "protected" in refused.stdout + refused.stderr
    assert [w["id"] for w in emulator.webhooks()] == [second]


def test_custom_timeouts_bound_the_retry_budget(
    project: YamlProject, emulator: EmulatorProcess
) -> None:
    """A 429 asking for 2 s is retried within dfns:retryTimeout (60 s, up to
    dfns:maxAttempts): with customTimeouts.delete of 1 s, the delete gives up at once."""
    program = {"hook": {**hook(), "options": {"customTimeouts": {"delete": "1s"}}}}
    project.write(program)
    project.run("config", "set", "dfns:maxAttempts", "10")
    project.up()
    emulator.fault("DELETE", "/webhooks/*", "status", status=429, retryAfter=2, times=20)
    emulator.clear_log()
    started = time.monotonic()
    failed = project.run("destroy", "--yes", "--skip-preview", check=False)
    elapsed = time.monotonic() - started
    assert failed.returncode != 0
    assert len(calls(emulator, "DELETE", "/webhooks/")) == 1, calls(emulator)
    assert elapsed < 30
    emulator.clear_faults()
    project.run("destroy", "--yes", "--skip-preview")
    assert emulator.webhooks() == []


def kept_values(project: YamlProject) -> dict[str, Any]:
    """Each webhook's inputs and outputs in the state, a secret as the word `secret`
    (its ciphertext gets a new nonce each time the state is written)."""

    def plain(value: Any) -> Any:
        if isinstance(value, dict):
            if SECRET_KEY in value:
                return "secret"
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, list):
            return [plain(v) for v in value]
        return value

    return {
        name: plain({"inputs": r.get("inputs"), "outputs": r.get("outputs")})
        for name, r in project.resources().items()
    }


@pytest.mark.parametrize("step", ["create", "update"])
def test_custom_timeouts_bound_create_and_update_too(
    project: YamlProject, emulator: EmulatorProcess, step: str
) -> None:
    """As for delete: with customTimeouts of 1 s, a 429 asking for 2 s is not waited
    out, the step fails after one request, and the state keeps what it had."""
    method, path = ("POST", "/webhooks") if step == "create" else ("PUT", "/webhooks/*")
    project.run("config", "set", "dfns:maxAttempts", "10")
    if step == "update":
        project.write({"hook": hook()})
        project.up()
    before = kept_values(project)
    options = {"customTimeouts": {step: "1s"}}
    project.write({"hook": {**hook(description="changed"), "options": options}})
    emulator.fault(method, path, "status", status=429, retryAfter=2, times=20)
    emulator.clear_log()
    started = time.monotonic()
    failed = project.up(check=False)
    elapsed = time.monotonic() - started
    assert failed.returncode != 0
    assert len(calls(emulator, method, "/webhooks")) == 1, calls(emulator)
    assert elapsed < 30
    assert kept_values(project) == before
    emulator.clear_faults()
    project.up()
    assert [w["description"] for w in emulator.webhooks()] == ["changed"]


def test_bad_input_is_refused_at_preview_naming_each_property(
    project: YamlProject, emulator: EmulatorProcess
) -> None:
    project.write(
        {
            "hook": hook(
                events=["wallet.creatd"],
                status="Maybe",
                adoptSecret=" whsec-pasted-value-with-space ",
            )
        }
    )
    emulator.clear_log()
    result = project.run("preview", check=False)
    out = result.stdout + result.stderr
    assert result.returncode != 0
    assert (
        "events[0] 'wallet.creatd' is not a Dfns event kind; did you mean 'wallet.created'?" in out
    )
    assert "status must be Enabled or Disabled, got 'Maybe'" in out
    # The schema's names in every reason, and no secret echoed.
    assert "adoptSecret has leading or trailing whitespace" in out
    assert "adoptSecret is given without adoptWebhookId" in out
    assert "whsec-pasted-value" not in out
    assert calls(emulator) == []


def test_a_warning_is_attached_to_its_resource(project: YamlProject) -> None:
    project.write({"hook": hook(events=["card.issued"])})
    out = project.run("preview").stdout
    # Under the resource's heading in the diagnostics, not the stack's.
    section = out.split("dfns:index:Webhook (hook):", 1)[1]
    assert section.lstrip().startswith("warning: events[0] 'card.issued' is not in"), out


def test_secrets_never_in_plaintext_in_state(
    project: YamlProject, emulator: EmulatorProcess
) -> None:
    adopted = emulator.client().create_webhook(HOOK, ["wallet.created"])
    inline_key = {
        **{k: v for k, v in connection(emulator, secret=False).items() if k != "privateKeyFile"},
        "privateKey": Path(emulator.config()["dfns:privateKeyFile"]).read_text(),
    }
    project.write(
        {
            "hook": hook(),
            "adopted": hook(adoptWebhookId=adopted["id"], adoptSecret=adopted["secret"]),
            "org": {"type": "pulumi:providers:dfns", "properties": connection(emulator)},
            "viaExplicit": {**hook(description="explicit"), "options": {"provider": "${org}"}},
            # The key as PEM text, a plain literal, not a file's path: the state must hold
            # it only as ciphertext. (In YAML the language host marks it from the schema;
            # CheckConfig's own marking, for programs that do not, is held by
            # tests/test_plugin_migration.py.)
            "inline": {"type": "pulumi:providers:dfns", "properties": inline_key},
            "viaInline": {**hook(description="inline"), "options": {"provider": "${inline}"}},
        },
        outputs={"secret": "${hook.secret}"},
    )
    project.up()
    assert project.resources("pulumi:providers:dfns")["inline"]["inputs"]["privateKey"]
    secret = project.outputs(show_secrets=True)["secret"]
    assert secret.startswith("whsec") or len(secret) > 16
    exported = project.run("stack", "export").stdout
    pem = Path(emulator.config()["dfns:privateKeyFile"]).read_text()
    for value in (secret, adopted["secret"], emulator.config()["dfns:authToken"]):
        assert value not in exported
    assert pem.strip().splitlines()[1] not in exported


def test_a_refused_update_is_one_line_and_keeps_the_state(
    project: YamlProject, emulator: EmulatorProcess
) -> None:
    project.write({"hook": hook(description="a")}, outputs={"id": "${hook.id}"})
    project.up()
    hook_id = project.outputs()["id"]
    emulator.fault("PUT", "/webhooks/*", "status", status=403, times=5)
    project.write({"hook": hook(description="b")}, outputs={"id": "${hook.id}"})
    failed = project.up(check=False)
    out = failed.stdout + failed.stderr
    assert failed.returncode != 0
    assert f"updating webhook {hook_id}: Dfns refused (HTTP 403" in out, out
    assert "needs the Webhooks:Update permission" in out
    assert "Traceback" not in out and 'File "' not in out, out
    assert project.resources()["hook"]["outputs"]["description"] == "a"


def test_two_organisations_in_one_program(
    project: YamlProject, start_emulator: Callable[..., EmulatorProcess], emulator: EmulatorProcess
) -> None:
    other = start_emulator()
    project.write(
        {
            "orgA": {"type": "pulumi:providers:dfns", "properties": connection(emulator)},
            # A plain literal: the plugin's CheckConfig marks it secret in the state.
            "orgB": {
                "type": "pulumi:providers:dfns",
                "properties": connection(other, secret=False),
            },
            "a": {**hook(description="in A"), "options": {"provider": "${orgA}"}},
            "b": {**hook(description="in B"), "options": {"provider": "${orgB}"}},
        },
        outputs={"a": "${a.id}", "b": "${b.id}"},
    )
    project.up()
    ids = project.outputs()
    assert [w["id"] for w in emulator.webhooks()] == [ids["a"]]
    assert [w["id"] for w in other.webhooks()] == [ids["b"]]
    providers = project.resources("pulumi:providers:dfns")
    assert sorted(providers) == ["orgA", "orgB"]
    for provider in providers.values():
        assert "ciphertext" in provider["inputs"]["authToken"]
    assert other.config()["dfns:authToken"] not in project.run("stack", "export").stdout
    project.run("destroy", "--yes", "--skip-preview")
    assert emulator.webhooks() == [] and other.webhooks() == []


def test_a_provider_pointed_at_another_organisation_moves_its_webhooks(
    project: YamlProject, start_emulator: Callable[..., EmulatorProcess], emulator: EmulatorProcess
) -> None:
    """DiffConfig (plugin/server.py): another organisation replaces the provider, and the
    engine then replaces its webhooks (created in the new one, deleted from the old);
    without it the webhook stayed in the old organisation, unmanaged, and the next
    refresh dropped it from the state."""
    other = start_emulator()

    def program(org: EmulatorProcess, token: str | None = None) -> None:
        properties = connection(org)
        if token is not None:
            properties["authToken"] = {"fn::secret": token}
        project.write(
            {
                "org": {"type": "pulumi:providers:dfns", "properties": properties},
                "a": {**hook(description="moves"), "options": {"provider": "${org}"}},
            },
            outputs={"a": "${a.id}"},
        )

    program(emulator)
    project.up()
    first = project.outputs()["a"]
    # A rotated token of the same organisation: the provider is updated, nothing else.
    program(emulator, token=emulator.issue_token())
    emulator.clear_log()
    preview = project.run("preview", "--diff")
    assert "replace" not in preview.stdout, preview.stdout
    project.up()
    assert project.outputs()["a"] == first
    assert calls(emulator, path="/webhooks") == []
    # Another organisation: the webhook is made there and removed from the first.
    program(other)
    preview = project.run("preview")
    # The provider and, because of it, the webhook.
    assert "+-2 to replace" in preview.stdout, preview.stdout
    assert "dfns:index:Webhook a create replacement [diff: ~provider]" in preview.stdout
    project.up()
    moved = project.outputs()["a"]
    assert [w["id"] for w in other.webhooks()] == [moved]
    assert emulator.webhooks() == []
    project.run("destroy", "--yes", "--skip-preview")
    assert other.webhooks() == []


def test_import_reads_the_inputs_back_without_the_secret(
    project: YamlProject, emulator: EmulatorProcess
) -> None:
    made = emulator.client().create_webhook(
        HOOK, ["wallet.created", "key.created"], description="made elsewhere"
    )
    project.write({})
    emulator.clear_log()
    result = project.run("import", WEBHOOK, "imported", made["id"], "--yes")
    assert webhook_calls(emulator) == [f"GET /webhooks/{made['id']}"] * 2  # preview, then import
    state = project.resources()["imported"]
    assert state["inputs"] == {
        "description": "made elsewhere",
        "events": ["key.created", "wallet.created"],
        "status": "Enabled",
        "url": HOOK,
    }
    assert state["outputs"]["secret"] is None
    assert "type: dfns:Webhook" in result.stdout or "dfns:index:Webhook" in result.stdout

    # The secret, if known, is taken over with adoptWebhookId (the same id) and
    # adoptSecret: recorded, no request to Dfns.
    adopt = hook(
        events=["wallet.created", "key.created"],
        description="made elsewhere",
        adoptWebhookId=made["id"],
        adoptSecret=made["secret"],
    )
    project.write(
        {"imported": {**adopt, "options": {"protect": True}}}, outputs={"s": "${imported.secret}"}
    )
    emulator.clear_log()
    project.up()
    assert calls(emulator) == []
    assert project.outputs(show_secrets=True)["s"] == made["secret"]

    missing = project.run(
        "import", WEBHOOK, "missing", "wh-00000-00000-0000000000000000", "--yes", check=False
    )
    assert missing.returncode != 0
    assert "no such webhook in this Dfns organisation" in missing.stdout + missing.stderr


def test_a_lookup_by_id_reads_without_managing(
    project: YamlProject, emulator: EmulatorProcess
) -> None:
    made = emulator.client().create_webhook(HOOK, ["wallet.created"], description="theirs")
    project.write(
        {"theirs": {"type": WEBHOOK, "get": {"id": made["id"]}}},
        outputs={"description": "${theirs.description}"},
    )
    project.up()
    assert project.outputs()["description"] == "theirs"
    project.run("destroy", "--yes", "--skip-preview")
    assert [w["id"] for w in emulator.webhooks()] == [made["id"]]


def test_parallel_steps_reach_dfns_in_parallel(
    project: YamlProject, emulator: EmulatorProcess
) -> None:
    """The core is synchronous: run on the plugin's event loop, four updates would reach
    Dfns one after another (each 3 requests at the emulator's 0.4 s latency: 1.2 s).
    In worker threads they start together."""
    count = 4
    project.write({f"h{n}": hook(description="a") for n in range(count)})
    project.up()
    project.write({f"h{n}": hook(description="b") for n in range(count)})
    emulator.set_latency(0.4)
    emulator.clear_log()
    project.up("--parallel", str(count))
    emulator.set_latency(0)
    starts = sorted(
        item["time"] for item in emulator.requests_log() if item["path"] == "/auth/action/init"
    )
    assert len(starts) == count
    # One after another the first and last would be at least 3 x 1.2 s apart.
    assert starts[-1] - starts[0] < 1.0, starts
