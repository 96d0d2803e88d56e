"""The package as a user gets it: the wheel alone, in a project made from the template.

The sdist and the wheel are built from a copy of the source (`python -m build`), the
wheel is installed into the project's own fresh virtualenv, and the project runs
preview, up, refresh and destroy against the emulator with nothing from the source
tree on any path (tests/support/project_runner.py says how, and where the offline
engine harness takes over).
"""

from __future__ import annotations

import tarfile
import zipfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from pulumi_dfns.settings import ALL_SETTINGS
from tests.support.emulator import EmulatorProcess
from tests.support.project_runner import RunResult, run_project
from tests.support.wheel_project import ROOT, TEMPLATE, UserProject, run, write_stack_config

TYPE = "pulumi-python:dynamic/dfns:Webhook"
STACK = "dev"
DFNS_KEYS = ("dfns:apiUrl", "dfns:authToken", "dfns:credentialId", "dfns:privateKey")


def test_the_template_asks_for_the_dfns_settings_secrets_as_secrets() -> None:
    project = yaml.safe_load((TEMPLATE / "Pulumi.yaml").read_text())
    assert project["name"] == "${PROJECT}" and project["description"] == "${DESCRIPTION}"
    assert project["runtime"]["name"] == "python"
    template = project["template"]
    assert template["description"]
    config = template["config"]
    assert set(DFNS_KEYS) <= set(config)
    secret = {key for key, spec in config.items() if spec.get("secret")}
    assert secret == {"dfns:authToken", "dfns:privateKey"}
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
    assert not any(n.startswith("tests/") for n in names)
    assert sorted(r.split(">")[0].split("<")[0].split("=")[0] for r in requires) == [
        "cryptography",
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
        "dfns:apiUrl": creds["apiUrl"],
        "dfns:authToken": creds["authToken"],
        "dfns:credentialId": creds["credentialId"],
        "dfns:privateKey": Path(creds["privateKeyFile"]).read_text(),
    }
    for key, spec in template["config"].items():
        if key not in answers:
            answers[key] = spec["default"]
    assert set(answers) == set(template["config"])
    return answers


def dfns_calls(emulator: EmulatorProcess) -> list[tuple[str, str]]:
    calls = [(e["method"], e["path"]) for e in emulator.requests_log()]
    emulator.clear_log()
    return calls


def assert_ran_from_the_virtualenv(user_project: UserProject, result: RunResult) -> None:
    venv = user_project.virtualenv.resolve()
    assert Path(result.program["pulumi_dfns"]).resolve().is_relative_to(venv)
    assert result.program["version"] == user_project.dists.version
    for entry in result.program["sys_path"]:  # "" is the program's cwd: the project
        path = Path(entry) if entry else user_project.directory
        assert not path.resolve().is_relative_to(ROOT), entry


@pytest.mark.wheel
def test_a_project_from_the_template_runs_from_the_wheel_alone(
    user_project: UserProject, emulator: EmulatorProcess
) -> None:
    project = user_project.directory
    write_stack_config(project, STACK, stack_config(emulator, user_project.template))
    # The provider process is `<venv>/bin/python -m pulumi.dynamic`, cwd = the project,
    # no PYTHONPATH: the same interpreter, directory and environment import from here.
    probe = run(
        [str(user_project.python), "-c", "import pulumi_dfns.provider as p; print(p.__file__)"],
        cwd=project,
    )
    assert Path(probe.stdout.strip()).resolve().is_relative_to(user_project.virtualenv.resolve())
    emulator.clear_log()

    preview = run_project(project, STACK, "preview")
    assert preview.steps == [("create", "webhook")]
    assert dfns_calls(emulator) == []  # preview sends nothing to Dfns
    assert_ran_from_the_virtualenv(user_project, preview)
    (registered,) = preview.program["registered"]
    assert registered["type"] == TYPE

    up = run_project(project, STACK, "up")
    assert up.steps == [("create", "webhook")]
    (webhook,) = emulator.webhooks()
    assert up.exports["webhookId"] == webhook["id"]
    assert str(up.exports["webhookSecret"]).startswith("whsec-")
    assert webhook["url"] == "https://hooks.example.com/dfns"
    assert sorted(webhook["events"]) == ["wallet.transfer.confirmed", "wallet.transfer.failed"]
    assert webhook["description"] == "my-webhooks"
    assert ("POST", "/webhooks") in dfns_calls(emulator)
    assert_ran_from_the_virtualenv(user_project, up)

    assert run_project(project, STACK, "preview").steps == []  # no spurious diff
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
    refreshed = run_project(project, STACK, "refresh")
    assert refreshed.steps == [("refresh", "webhook")]
    (resource,) = refreshed.resources
    assert resource.outputs["description"] == "changed in the dashboard"
    assert {method for method, _ in dfns_calls(emulator)} == {"GET"}

    reverted = run_project(project, STACK, "up")
    assert reverted.steps == [("update", "webhook")]
    assert reverted.exports["webhookSecret"] == up.exports["webhookSecret"]
    assert emulator.webhooks()[0]["description"] == "my-webhooks"

    destroyed = run_project(project, STACK, "destroy")
    assert destroyed.steps == [("delete", "webhook")]
    assert destroyed.resources == []
    assert emulator.webhooks() == []
