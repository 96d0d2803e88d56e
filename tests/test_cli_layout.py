"""The project layout as the CLI starts it: where the provider runs, which virtualenv it
finds, where a relative dfns:privateKeyFile resolves, which config refresh and destroy
use. Credentials come from stack config here (no DFNS_* variable), as in production."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from pulumi_dfns.client import DfnsClient
from tests.harness import Harness
from tests.harness.project import SECRETS_ENV
from tests.harness.wire import is_secret
from tests.support.cli_project import (
    ROOT,
    base_env,
    checkpoint_text,
    read_stack,
    reference_project,
    revoke_token,
    webhooks_in_state,
    write_stack,
)
from tests.support.emulator import EmulatorProcess


def test_the_reference_project_needs_no_main_and_keeps_stacks_in_stacks() -> None:
    project = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
    assert "main" not in project  # the program and the provider both run at the root
    assert project["stackConfigDir"] == "stacks"
    assert project["runtime"]["options"]["virtualenv"] == ".venv"
    assert (ROOT / "__main__.py").exists()
    # `pulumi install` runs `pip install -r requirements.txt` in the program directory.
    assert "-e ." in (ROOT / "requirements.txt").read_text().splitlines()


def test_the_former_layout_main_stacks_cannot_start_the_provider(tmp_path: Path) -> None:
    """With `main: stacks/` the CLI started the provider in stacks/ and the shim looked
    for stacks/.venv (pulumi/pulumi#7061): the layout this project had before."""
    project = reference_project(tmp_path / "old")
    shutil.copy(project / "__main__.py", project / "stacks" / "__main__.py")
    (project / "__main__.py").unlink()
    text = (
        (project / "Pulumi.yaml")
        .read_text()
        .replace("stackConfigDir:", "main: stacks/\nstackConfigDir:")
    )
    (project / "Pulumi.yaml").write_text(text)
    result = Harness(project, tmp_path / "state", env=base_env()).preview("dev")
    assert not result.ok
    assert "The 'virtualenv' option in Pulumi.yaml is set to" in result.output
    assert f"{project / 'stacks' / '.venv'}\" doesn't exist" in result.output


def test_a_config_mistake_fails_the_preview_naming_the_field(tmp_path: Path) -> None:
    project = reference_project(tmp_path / "project")
    config = read_stack(project)
    config["dfns-webhooks:webhooks"]["payments"]["colour"] = "blue"
    write_stack(project, "dev", config)
    result = Harness(project, tmp_path / "state", env=base_env()).preview("dev")
    assert not result.ok
    assert "webhooks.payments: unknown field(s) colour" in result.output
    assert "error: preview failed" in result.output


def config_project(tmp_path: Path, emulator: EmulatorProcess) -> tuple[Path, dict[str, str]]:
    """The reference project with credentials in stack config: a relative key file
    next to Pulumi.yaml, the token a secure value."""
    project = reference_project(tmp_path / "project")
    credentials = emulator.credentials()
    shutil.copy(credentials["privateKeyFile"], project / "service-account-key.pem")
    config = read_stack(project)
    config.update(
        {
            "dfns:apiUrl": credentials["apiUrl"],
            "dfns:credentialId": credentials["credentialId"],
            "dfns:privateKeyFile": "./service-account-key.pem",
            "dfns:authToken": {"secure": "v1:given-in-the-environment"},
        }
    )
    write_stack(project, "dev", config)
    return project, {"dfns:authToken": credentials["authToken"]}


def env_with(secrets: dict[str, str]) -> dict[str, str]:
    import json

    return {**base_env(), SECRETS_ENV: json.dumps(secrets)}


def test_a_relative_private_key_file_resolves_next_to_pulumi_yaml(
    tmp_path: Path, emulator: EmulatorProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    project, secrets = config_project(tmp_path, emulator)
    monkeypatch.chdir(tmp_path)  # `pulumi --cwd project`: the caller is elsewhere
    h = Harness(project, tmp_path / "state", env=env_with(secrets))
    result = h.up("dev")
    assert result.ok, result.output
    assert len(emulator.webhooks()) == 2
    # The stored provider config: the token secret-marked, never in plaintext.
    provider = next(
        r for r in h.checkpoint("dev").resources if r.type.startswith("pulumi:providers:")
    )
    assert is_secret(provider.inputs["dfns:authToken"])
    assert provider.inputs["dfns:privateKeyFile"] == "./service-account-key.pem"
    assert secrets["dfns:authToken"] not in checkpoint_text(h)
    assert h.destroy("dev").ok
    assert emulator.webhooks() == []


def test_refresh_and_destroy_use_the_config_stored_at_the_last_up(
    tmp_path: Path, emulator: EmulatorProcess
) -> None:
    project, secrets = config_project(tmp_path, emulator)
    h = Harness(project, tmp_path / "state", env=env_with(secrets))
    assert h.up("dev", skip_preview=True).ok
    ids = {w["id"] for w in emulator.webhooks()}
    # Rotate: a new token in the stack config, the old one revoked in Dfns.
    rotated = {"dfns:authToken": emulator.issue_token()}
    revoke_token(emulator, secrets["dfns:authToken"])
    h = Harness(project, tmp_path / "state", env=env_with(rotated))

    def held() -> set[str]:
        client = DfnsClient(emulator.settings(auth_token=rotated["dfns:authToken"]))
        return {w["id"] for w in client.list_webhooks()}

    # refresh and destroy do not run the program: the provider gets the stored token.
    for result in (h.refresh("dev"), h.destroy("dev")):
        assert not result.ok
        assert "401" in result.output
        # The wording is the provider's (its 401 message names dfns:authToken); the
        # explanation that refresh/destroy use the stored config lands there too.
        assert "dfns:authToken" in result.output
        # ...and the stored-config advice, which the generic 401 hint does not give.
        assert "`pulumi up` first" in result.output
        assert "--run-program" in result.output
        assert rotated["dfns:authToken"] not in result.output
        assert secrets["dfns:authToken"] not in result.output
    assert held() == ids
    assert set(webhooks_in_state(h)) == {"audit", "payments"}
    # `pulumi up` runs the program, so the provider gets (and the state stores) the new token.
    up = h.up("dev")
    assert up.ok, up.output
    provider = next(
        r for r in h.checkpoint("dev").resources if r.type.startswith("pulumi:providers:")
    )
    assert provider.inputs["dfns:authToken"]["value"] == rotated["dfns:authToken"]
    assert h.refresh("dev").ok
    destroyed = h.destroy("dev")
    assert destroyed.ok, destroyed.output
    assert held() == set()
