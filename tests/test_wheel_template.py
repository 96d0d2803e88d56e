"""The package as a user gets it: the wheel alone, in a project made from the template.

The sdist and the wheel are built from a copy of the source (`python -m build`), the
wheel is installed into the project's own fresh virtualenv, and the project runs
preview, up, refresh and destroy through the offline engine (tests/harness/) against
the emulator. The engine runs here, as the `pulumi` CLI would; the program and the
provider run as the CLI starts them: the interpreter of Pulumi.yaml's `virtualenv`,
the project directory as working directory, no PYTHONPATH, nothing of the source tree
on PATH. An import trace of those two processes shows where pulumi_dfns came from.
"""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
import tarfile
import zipfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from pulumi_dfns.settings import ALL_SETTINGS
from tests.harness import Harness, Result
from tests.harness.project import SECRETS_ENV
from tests.harness.wire import SECRET_SIG, SIG, is_secret
from tests.support.emulator import EmulatorProcess
from tests.support.wheel_project import ROOT, TEMPLATE, UserProject, user_env, write_stack_config

TYPE = "pulumi-python:dynamic/dfns:Webhook"
STACK = "dev"
DFNS_KEYS = ("dfns:authToken", "dfns:credentialId", "dfns:privateKeyFile")
PASSPHRASE = "template-user"


def test_the_template_asks_for_the_dfns_settings_secrets_as_secrets() -> None:
    project = yaml.safe_load((TEMPLATE / "Pulumi.yaml").read_text())
    assert project["name"] == "${PROJECT}" and project["description"] == "${DESCRIPTION}"
    assert project["runtime"]["name"] == "python"
    template = project["template"]
    assert template["description"]
    config = template["config"]
    assert set(DFNS_KEYS) <= set(config)
    secret = {key for key, spec in config.items() if spec.get("secret")}
    assert secret == {"dfns:authToken"}
    # `pulumi new` reads one line per answer: no PEM text prompt, a key file instead.
    assert "dfns:privateKey" not in config
    # Not stored by default, so DFNS_API_URL (CI secret store) is not hidden by config.
    assert "dfns:apiUrl" not in config
    ignored = (TEMPLATE / ".gitignore").read_text().splitlines()
    assert "venv/" in ignored and "*.pem" in ignored
    assert "*.pem" in (ROOT / ".gitignore").read_text().splitlines()
    assert "pulumi>=3.216.0,<4" in (TEMPLATE / "requirements.txt").read_text().splitlines()
    # Every dfns:* key the template asks for is one the provider reads, secrets alike.
    settings = {s.config_key: s for s in ALL_SETTINGS}
    for key in (k for k in config if k.startswith("dfns:")):
        assert key in settings, key
        assert settings[key].secret == (key in secret), key
    assert "pulumi-dfns" in (TEMPLATE / "requirements.txt").read_text()
    assert (TEMPLATE / "__main__.py").is_file()  # the program at the project root (#7061)


@pytest.mark.wheel
def test_the_distributions_carry_the_package_its_type_marker_and_dependencies(
    user_project: UserProject,
) -> None:
    with zipfile.ZipFile(user_project.dists.wheel) as wheel:
        names = set(wheel.namelist())
        metadata = next(n for n in names if n.endswith(".dist-info/METADATA"))
        requires = [
            line.split(":", 1)[1].strip()
            for line in wheel.read(metadata).decode().splitlines()
            if line.startswith("Requires-Dist:") and "extra ==" not in line
        ]
    assert "pulumi_dfns/py.typed" in names
    assert "pulumi_dfns/provider.py" in names and "pulumi_dfns/emulator/server.py" in names
    assert "pulumi_dfns/plugin/server.py" in names  # the plugin ships in the same wheel
    assert not any(n.startswith("tests/") for n in names)
    assert sorted(r.split(">")[0].split("<")[0].split("=")[0] for r in requires) == [
        "cryptography",
        "grpcio",
        "pulumi",
        "pyyaml",
        "requests",
    ]
    with tarfile.open(user_project.dists.sdist) as sdist:
        assert any(n.endswith("provider/pulumi_dfns/py.typed") for n in sdist.getnames())


@pytest.mark.wheel
def test_pulumi_new_leaves_a_plain_project(user_project: UserProject) -> None:
    project = yaml.safe_load((user_project.directory / "Pulumi.yaml").read_text())
    assert project["name"] == "my-webhooks"
    assert project["description"] == "Webhooks of my service"
    assert "template" not in project
    assert project["runtime"]["options"]["virtualenv"] == "venv"
    for path in user_project.directory.iterdir():
        if path.is_file():
            assert "${PROJECT}" not in path.read_text() and "${DESCRIPTION}" not in path.read_text()


def stack_config(emulator: EmulatorProcess, template: dict[str, Any]) -> dict[str, str]:
    """The answers to the template's prompts: the emulator's credentials, the defaults."""
    creds = emulator.credentials()
    answers = {
        "dfns:authToken": creds["authToken"],
        "dfns:credentialId": creds["credentialId"],
    }
    for key, spec in template["config"].items():
        if key not in answers:
            answers[key] = spec["default"]
    assert set(answers) == set(template["config"])
    return answers


def dfns_calls(emulator: EmulatorProcess) -> list[tuple[str, str]]:
    """The Dfns requests since the last call (the emulator's own control routes aside)."""
    calls = [
        (e["method"], e["path"])
        for e in emulator.requests_log()
        if not e["path"].startswith("/_emulator/")
    ]
    emulator.clear_log()
    return calls


def changes(result: Result) -> list[tuple[str, str]]:
    """(step, name) of the webhooks: what the user reads, without the stack itself."""
    assert result.ok, result.output
    return [(step.op, step.name) for step in result.steps if step.type == TYPE]


# PYTHONVERBOSE=1 makes an interpreter log each module it imports, with the file it
# came from ("# code object from '<file>'", "# <pyc> matches <source>"; Python docs,
# `-v`); the CLI passes its environment on to the program and the provider alike.
_FILE = re.compile(r"(/[^\s'\"]+?\.(?:py|pyc|so))(?=['\s]|$)")


def imported_files(lines: list[str]) -> set[Path]:
    return {Path(match) for line in lines for match in _FILE.findall(line)}


def assert_imported_from_the_virtualenv(user_project: UserProject, trace: list[str]) -> None:
    """pulumi_dfns from the project's virtualenv, and nothing at all from the source tree."""
    files = imported_files(trace)
    venv = user_project.virtualenv.resolve()
    ours = {f for f in files if "pulumi_dfns" in f.parts}
    assert {f.parent.name for f in ours} >= {"pulumi_dfns"}, trace[-20:]
    assert all(f.resolve().is_relative_to(venv) for f in ours), sorted(ours)
    assert any(f.stem.startswith("provider") for f in ours)  # the provider class's module
    from_source = sorted(f for f in files if f.resolve().is_relative_to(ROOT))
    assert from_source == [], from_source


def stored_secret(emulator: EmulatorProcess, webhook_id: str) -> str:
    """The secret the emulator signs deliveries with (its store: no route returns it)."""
    db = sqlite3.connect(f"file:{emulator.data_dir / 'emulator.sqlite3'}?mode=ro", uri=True)
    try:
        row = db.execute("SELECT secret FROM webhooks WHERE id=?", (webhook_id,)).fetchone()
    finally:
        db.close()
    assert row is not None, webhook_id
    return str(row[0])


def assert_nowhere(plaintexts: list[str], *texts: str) -> None:
    for plain in plaintexts:
        for text in texts:
            assert plain not in text and json.dumps(plain)[1:-1] not in text


@pytest.mark.wheel
def test_a_project_from_the_template_runs_from_the_wheel_alone_through_the_engine(
    user_project: UserProject, emulator: EmulatorProcess, tmp_path: Path
) -> None:
    project = user_project.directory
    answers = stack_config(emulator, user_project.template)
    # The key file where the template's default answer points, beside Pulumi.yaml.
    assert answers["dfns:privateKeyFile"] == "./service-account-key.pem"
    shutil.copy(emulator.credentials()["privateKeyFile"], project / "service-account-key.pem")
    plaintexts = write_stack_config(project, STACK, user_project.template, answers)
    assert set(plaintexts) == {"dfns:authToken"}
    stack_file = (project / f"Pulumi.{STACK}.yaml").read_text()
    assert_nowhere(list(plaintexts.values()), stack_file)
    assert "my-webhooks:webhookUrl" in stack_file  # bare keys stored with the project's name

    assert "dfns:apiUrl" not in stack_file
    # The API url from the environment, as a CI secret store gives it (no stored value
    # hides it).
    env = user_env(
        PULUMI_CONFIG_PASSPHRASE=PASSPHRASE,
        DFNS_API_URL=emulator.credentials()["apiUrl"],
        **{SECRETS_ENV: json.dumps(plaintexts)},
    )
    state = tmp_path / "state"
    h = Harness(project, state, env=env)
    emulator.clear_log()

    # The first preview, with an import trace of the program and of the provider.
    preview = Harness(project, state, env={**env, "PYTHONVERBOSE": "1"}).preview(STACK)
    assert changes(preview) == [("create", "webhook")]
    assert dfns_calls(emulator) == []  # preview sends nothing to Dfns
    assert_imported_from_the_virtualenv(user_project, preview.program_output)
    assert_imported_from_the_virtualenv(user_project, preview.provider_stderr)
    assert not h.checkpoint_path(STACK).exists()  # a preview writes no state

    up = h.up(STACK)
    assert changes(up) == [("create", "webhook")]
    assert ("POST", "/webhooks") in dfns_calls(emulator)
    (webhook,) = emulator.webhooks()
    assert webhook["url"] == "https://hooks.example.com/dfns"
    assert sorted(webhook["events"]) == ["wallet.transfer.confirmed", "wallet.transfer.failed"]
    assert webhook["description"] == "my-webhooks"
    (resource,) = up.checkpoint.custom_resources()
    assert (resource.type, resource.id) == (TYPE, webhook["id"])
    exports = up.checkpoint.stack_outputs()
    assert exports["webhookId"] == webhook["id"]
    assert is_secret(exports["webhookSecret"]) and is_secret(resource.outputs["secret"])
    secret = exports["webhookSecret"]["value"]
    assert secret == resource.outputs["secret"]["value"] == stored_secret(emulator, webhook["id"])
    assert "webhookSecret: [secret]" in up.output
    raw = h.checkpoint_path(STACK).read_text()
    assert f'"{SIG}": "{SECRET_SIG}"' in raw
    # Neither the webhook secret nor the secure config is in plain text in the state,
    # in what the user read, or in the provider's output.
    assert_nowhere([secret, *plaintexts.values()], raw, up.output, "\n".join(up.provider_stderr))

    emulator.clear_log()
    again = h.preview(STACK)
    assert changes(again) == [("same", "webhook")]  # no spurious diff
    assert dfns_calls(emulator) == []

    client = emulator.client()
    held = client.get_webhook(webhook["id"])
    client.update_webhook(
        held["id"],
        url=held["url"],
        events=held["events"],
        status=held["status"],
        description="changed in the dashboard",
    )
    emulator.clear_log()
    refreshed = h.refresh(STACK)
    assert changes(refreshed) == [("update", "webhook")]  # the drift is seen
    assert {method for method, _ in dfns_calls(emulator)} == {"GET"}
    (resource,) = h.checkpoint(STACK).custom_resources()
    assert resource.outputs["description"] == "changed in the dashboard"

    reverted = h.up(STACK)
    assert changes(reverted) == [("update", "webhook")]
    assert emulator.webhooks()[0]["description"] == "my-webhooks"
    assert h.checkpoint(STACK).stack_outputs()["webhookSecret"]["value"] == secret
    emulator.clear_log()

    destroyed = h.destroy(STACK)
    assert changes(destroyed) == [("delete", "webhook")]
    assert ("DELETE", f"/webhooks/{webhook['id']}") in dfns_calls(emulator)
    assert h.checkpoint(STACK).resources == []
    assert emulator.webhooks() == []
