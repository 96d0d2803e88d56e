"""Credentials in the stack config under the real `pulumi` CLI, set with `pulumi config
set --secret` as a user sets them: what the state holds (ciphertext only for the token,
the key and a webhook's secret), a rotated `dfns:authToken` at refresh and destroy (the
stored config, as docs/cli.md says), and failures as a user sees them: a check failure
and a provider error, each named, on one line, echoing no url given as a secret, no
token, no key.

Path: `preview`, `up` and `--run-program` on the inline Automation API language server
(`--client`); `refresh`, `destroy`, `config`, `stack` on the CLI binary alone.
(The same through the offline harness: tests/test_cli_layout.py, test_cli_programs.py.)
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.cli_project import (
    program_project,
    read_stack,
    reference_project,
    revoke_token,
    write_stack,
)
from tests.support.emulator import EmulatorProcess
from tests.support.real_cli import (
    Cli,
    cli_env,
    default_provider,
    dfns_calls,
    dfns_secret,
    is_ciphertext,
    webhooks_of,
)

pytestmark = pytest.mark.realcli

SECRET_URL = "https://receiver.example/dfns/private-7f3a9c"
TYPE = "pulumi-python:dynamic/dfns:Webhook"

URL_PROGRAM = """\
import pulumi
from pulumi_dfns import DfnsWebhook

config = pulumi.Config()
hook = DfnsWebhook(
    "private",
    url=config.require_secret("hookUrl"),
    events=config.get_object("events") or ["*"],
    description=config.get("description"),
)
pulumi.export("webhookId", hook.id)
pulumi.export("url", hook.url)
pulumi.export("secret", hook.secret)
"""


def configured(pulumi_cli: Path, tmp_path: Path, emulator: EmulatorProcess) -> tuple[Cli, str]:
    """URL_PROGRAM's project, stack `dev` made with `pulumi stack init`, every setting
    stored with `pulumi config set` (a token of its own, the key's PEM text and the url
    secret). Returns the CLI and the token."""
    project = program_project(tmp_path / "project", URL_PROGRAM, {})
    cli = Cli(pulumi_cli, project, tmp_path, cli_env())
    credentials = emulator.credentials()
    token = emulator.issue_token()  # the test's own: a rotation revokes it alone
    pem = Path(credentials["privateKeyFile"]).read_text()
    steps: list[tuple[str, ...]] = [
        ("stack", "init", "dev"),
        ("config", "set", "dfns:apiUrl", credentials["apiUrl"]),
        ("config", "set", "dfns:credentialId", credentials["credentialId"]),
        ("config", "set", "--secret", "dfns:authToken", token),
        ("config", "set", "--secret", "dfns:privateKey", "--", pem),
        ("config", "set", "--secret", "hookUrl", SECRET_URL),
    ]
    for step in steps:
        result = cli.run(*step)
        assert result.ok, result
    return cli, token


def secrets_of(emulator: EmulatorProcess) -> list[str]:
    """What must never be shown: the key (its PEM body) and the secret url."""
    credentials = emulator.credentials()
    pem = Path(credentials["privateKeyFile"]).read_text()
    body = "".join(line for line in pem.splitlines() if not line.startswith("-----"))
    return [body[:40], body[-40:], SECRET_URL, "private-7f3a9c"]


def assert_nothing_secret(emulator: EmulatorProcess, token: str, *texts: str) -> None:
    seen = "\n".join(texts)
    for secret in [token, *secrets_of(emulator)]:
        assert secret not in seen


def test_the_state_holds_only_ciphertext_for_the_token_the_key_and_the_secret(
    pulumi_cli: Path, tmp_path: Path, emulator: EmulatorProcess
) -> None:
    cli, token = configured(pulumi_cli, tmp_path, emulator)
    stack_file = (cli.project / "Pulumi.dev.yaml").read_text()
    assert_nothing_secret(emulator, token, stack_file)
    up = cli.run("up", "--stack", "dev", "--yes")
    assert up.ok, up
    exported = cli.export()
    provider = default_provider(exported)
    for key in ("dfns:authToken", "dfns:privateKey"):
        assert is_ciphertext(provider["inputs"][key]), key
    hook = webhooks_of(exported)["private"]
    assert is_ciphertext(hook["outputs"]["secret"])
    assert is_ciphertext(hook["inputs"]["url"]) and is_ciphertext(hook["outputs"]["url"])
    text = json.dumps(exported)
    secret = dfns_secret(emulator, hook["id"])
    assert secret not in text
    assert_nothing_secret(emulator, token, text, up.output)
    # `--show-secrets` is the way to read them back.
    shown = cli.run("stack", "output", "secret", "--stack", "dev", "--show-secrets")
    assert shown.ok and shown.stdout.strip() == secret, shown
    assert cli.run("destroy", "--stack", "dev", "--yes").ok
    assert emulator.webhooks() == []


def test_a_rotated_token_refresh_and_destroy_use_the_stored_config(
    pulumi_cli: Path, tmp_path: Path, emulator: EmulatorProcess
) -> None:
    cli, token = configured(pulumi_cli, tmp_path, emulator)
    assert cli.run("up", "--stack", "dev", "--yes").ok
    [hook] = emulator.webhooks()
    rotated = emulator.issue_token()
    revoke_token(emulator, token)
    assert cli.run("config", "set", "--secret", "dfns:authToken", rotated).ok
    # refresh and destroy do not run the program: the provider gets the token stored at
    # the last `pulumi up`, now revoked; the message says what to do.
    for args in (("refresh", "--yes"), ("destroy", "--yes")):
        failed = cli.run(*args, "--stack", "dev")
        assert not failed.ok, failed
        assert "401" in failed.output
        assert "`pulumi up` first" in failed.output and "--run-program" in failed.output
        assert rotated not in failed.output
        assert_nothing_secret(emulator, token, failed.output)
    assert [w["id"] for w in emulator.webhooks()] == [hook["id"]]
    # `pulumi up` stores the new config: refresh passes again.
    up = cli.run("up", "--stack", "dev", "--yes")
    assert up.ok, up
    assert cli.run("refresh", "--stack", "dev", "--yes").ok
    # Rotated again: --run-program runs the program, which configures the provider with
    # the token as it is now; the refresh then stores it, so a plain destroy passes.
    again = emulator.issue_token()
    revoke_token(emulator, rotated)
    assert cli.run("config", "set", "--secret", "dfns:authToken", again).ok
    assert not cli.run("refresh", "--stack", "dev", "--yes").ok
    refreshed = cli.run("refresh", "--stack", "dev", "--yes", "--run-program")
    assert refreshed.ok, refreshed
    destroyed = cli.run("destroy", "--stack", "dev", "--yes")
    assert destroyed.ok, destroyed
    assert emulator.webhooks() == []


def test_a_check_failure_names_the_property_on_one_line(
    pulumi_cli: Path, tmp_path: Path, emulator: EmulatorProcess
) -> None:
    cli, token = configured(pulumi_cli, tmp_path, emulator)
    assert cli.run("config", "set", "--path", "events[0]", "wallet.transfer.confimed").ok
    emulator.clear_log()
    preview = cli.run("preview", "--stack", "dev")
    assert preview.code == 1, preview
    assert dfns_calls(emulator) == []
    assert f"{TYPE} private" in preview.output
    # One line, shown twice (the resource's row, then Diagnostics), naming the property.
    failures = {
        line[line.index("error:") :] for line in preview.output.splitlines() if "did you" in line
    }
    assert failures == {
        f"error: {TYPE} resource 'private' has a problem: events[0] 'wallet.transfer.confimed'"
        " is not a Dfns event kind; did you mean 'wallet.transfer.confirmed'? (if Dfns added"
        " 'wallet.transfer.confimed' since, list it in dfns:extraEventKinds)"
    }
    assert_nothing_secret(emulator, token, preview.output)


def test_a_bad_setting_fails_the_preview_naming_it_without_its_value(
    pulumi_cli: Path, tmp_path: Path, emulator: EmulatorProcess
) -> None:
    cli, token = configured(pulumi_cli, tmp_path, emulator)
    bad = "https://user:hunter2-pw@api.example"
    assert cli.run("config", "set", "--secret", "dfns:apiUrl", bad).ok
    preview = cli.run("preview", "--stack", "dev")
    assert not preview.ok, preview
    assert dfns_calls(emulator) == [] or all(p != "/webhooks" for _, p in dfns_calls(emulator))
    assert "dfns:apiUrl" in preview.output
    assert "hunter2-pw" not in preview.output
    assert_nothing_secret(emulator, token, preview.output)


def test_a_provider_error_is_one_named_line_without_secrets(
    pulumi_cli: Path, tmp_path: Path, emulator: EmulatorProcess
) -> None:
    cli, token = configured(pulumi_cli, tmp_path, emulator)
    assert cli.run("up", "--stack", "dev", "--yes").ok
    [hook] = emulator.webhooks()
    assert cli.run("config", "set", "description", "now with a description").ok
    emulator.fault("PUT", "/webhooks/*", "status", status=403, times=1)
    failed = cli.run("up", "--stack", "dev", "--yes")
    emulator.clear_faults()
    assert failed.code == 1, failed
    lines = [line for line in failed.output.splitlines() if "DfnsProviderError" in line] or [
        line for line in failed.output.splitlines() if "Exception calling application" in line
    ]
    assert lines
    for line in lines:
        assert f"updating webhook {hook['id']}: Dfns refused (HTTP 403" in line
    assert "Traceback" not in failed.output
    assert_nothing_secret(emulator, token, failed.output)
    assert cli.run("destroy", "--stack", "dev", "--yes").ok


def test_a_secret_url_stays_out_of_a_failed_create(
    pulumi_cli: Path, tmp_path: Path, emulator: EmulatorProcess
) -> None:
    cli, token = configured(pulumi_cli, tmp_path, emulator)
    emulator.fault("POST", "/webhooks", "status", status=403, times=1)
    failed = cli.run("up", "--stack", "dev", "--yes", "--skip-preview")
    emulator.clear_faults()
    assert failed.code == 1, failed
    assert "403" in failed.output
    assert_nothing_secret(emulator, token, failed.output, json.dumps(cli.export()))


def test_a_config_mistake_in_the_program_fails_the_preview_naming_the_field(
    pulumi_cli: Path, tmp_path: Path, emulator: EmulatorProcess
) -> None:
    """The reference program's own check of its config, as the user reads it on the
    inline path (`python inline source runtime error: ...`; the language host would
    print the exception without that prefix)."""
    project = reference_project(tmp_path / "project")
    config = read_stack(project)
    config["dfns-webhooks:webhooks"]["payments"]["colour"] = "blue"
    write_stack(project, "dev", config)
    cli = Cli(pulumi_cli, project, tmp_path, cli_env(emulator))
    assert cli.run("stack", "init", "dev").ok
    emulator.clear_log()
    result = cli.run("preview", "--stack", "dev")
    assert result.code == 1, result
    assert "python inline source runtime error: webhooks.payments: unknown field(s) colour" in (
        result.output
    )
    assert dfns_calls(emulator) == []
