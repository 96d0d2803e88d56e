"""A project made from the template, with the built wheel installed alone into its own
virtualenv, under the real `pulumi` CLI: `stack init`, the template's answers stored with
`pulumi config set` (the token `--secret`), `up`, `destroy`, against the emulator.

`pulumi new ./templates/dfns-webhooks-python --generate-only` is tried first; CLI
v3.277.0 refuses it without the Python language host (`error: failed to load language
plugin python: no language plugin 'pulumi-language-python' found in the workspace or on
your $PATH`), so the project is then made as `pulumi new` makes it
(tests/support/wheel_project.py `new_project`, read in its source).

Path: `up` on the inline Automation API language server (`--client`), run by the
project's own `venv/bin/python` in isolated mode; the provider from that `venv` (the
template's `virtualenv`); `destroy`, `config`, `stack` on the CLI binary alone.
(The same through the offline harness: tests/test_wheel_template.py.)
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.support.emulator import EmulatorProcess
from tests.support.real_cli import (
    PASSPHRASE,
    Cli,
    dfns_calls,
    dfns_secret,
    is_ciphertext,
    webhooks_of,
)
from tests.support.wheel_project import TEMPLATE, UserProject, new_project, user_env

pytestmark = [pytest.mark.realcli, pytest.mark.wheel]

NO_LANGUAGE_HOST = "no language plugin 'pulumi-language-python' found"


def test_a_template_project_from_the_wheel_goes_up_and_down(
    pulumi_cli: Path, user_project: UserProject, tmp_path: Path, emulator: EmulatorProcess
) -> None:
    credentials = emulator.credentials()
    env = user_env(PULUMI_CONFIG_PASSPHRASE=PASSPHRASE, DFNS_API_URL=credentials["apiUrl"])
    scratch = Cli(pulumi_cli, TEMPLATE, tmp_path / "new", env)
    made = tmp_path / "generated"
    new = scratch.run(
        "new", str(TEMPLATE), "--generate-only", "--yes", "--name", "my-webhooks",
        "--description", "Webhooks of my service", "--dir", str(made),
    )  # fmt: skip
    if new.ok:
        project = made
    else:
        assert NO_LANGUAGE_HOST in new.output, new
        project = tmp_path / "my-webhooks"
        new_project(project, "my-webhooks", "Webhooks of my service")
    # The wheel's virtualenv, made once per session (tests/conftest.py `user_project`).
    (project / "venv").symlink_to(user_project.virtualenv, target_is_directory=True)
    shutil.copy(credentials["privateKeyFile"], project / "service-account-key.pem")
    cli = Cli(pulumi_cli, project, tmp_path, env, python=user_project.python)
    answers: list[tuple[str, ...]] = [
        ("stack", "init", "dev"),
        ("config", "set", "--secret", "dfns:authToken", credentials["authToken"]),
        ("config", "set", "dfns:credentialId", credentials["credentialId"]),
        ("config", "set", "dfns:privateKeyFile", "./service-account-key.pem"),
        ("config", "set", "webhookUrl", "https://hooks.example.com/dfns"),
        ("config", "set", "webhookEvents", "wallet.transfer.confirmed,wallet.transfer.failed"),
    ]
    for answer in answers:
        result = cli.run(*answer)
        assert result.ok, result
    assert credentials["authToken"] not in (project / "Pulumi.dev.yaml").read_text()

    emulator.clear_log()
    up = cli.run("up", "--stack", "dev", "--yes")
    assert up.ok, up
    assert "+ 2 created" in up.output
    assert [m for m, p in dfns_calls(emulator) if p == "/webhooks"] == ["POST"]
    [held] = emulator.webhooks()
    assert held["description"] == "my-webhooks"  # pulumi.get_project()
    assert held["events"] == ["wallet.transfer.confirmed", "wallet.transfer.failed"]
    exported = cli.export()
    hook = webhooks_of(exported)["webhook"]
    assert hook["id"] == held["id"]
    assert is_ciphertext(hook["outputs"]["secret"])
    text = json.dumps(exported)
    secret = dfns_secret(emulator, held["id"])
    for plain in (secret, credentials["authToken"]):
        assert plain not in text and plain not in up.output
    shown = cli.run("stack", "output", "webhookSecret", "--stack", "dev", "--show-secrets")
    assert shown.ok and shown.stdout.strip() == secret, shown

    destroyed = cli.run("destroy", "--stack", "dev", "--yes")
    assert destroyed.ok, destroyed
    assert emulator.webhooks() == []
    assert webhooks_of(cli.export()) == {}
