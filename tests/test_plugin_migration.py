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

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support.emulator import EmulatorProcess
from tests.support.plugin_cli import OFFLINE, PASSPHRASE, Tools, tools

auto = pytest.importorskip("pulumi.automation")

HOOK = "https://hooks.example.com/dfns"
SDK_MODULE = "github.com/pulumi/pulumi/sdk/v3@v3.277.0"
# The key of a secret-marked value in state (sdk/go/common/resource/sig: Secret).
SECRET_SIG = "4dabf18193072939515e22adb298388d"


def _dynamic_plugin_dir() -> Path:
    """Where `pulumi-resource-pulumi-python` is: PULUMI_DFNS_PYTHON_PLUGIN_DIR, else the
    CLI's sdk/v3 Go module (python/dist/), fetched by the `go` client."""
    given = os.environ.get("PULUMI_DFNS_PYTHON_PLUGIN_DIR")
    if given:
        return Path(given)
    go = shutil.which("go")
    if go is None:
        pytest.skip(
            "no pulumi-resource-pulumi-python: set PULUMI_DFNS_PYTHON_PLUGIN_DIR or install Go"
        )
    found = subprocess.run(
        [go, "mod", "download", "-json", SDK_MODULE],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    if found.returncode != 0:
        pytest.skip(f"no pulumi-resource-pulumi-python: go mod download {SDK_MODULE} failed")
    return Path(json.loads(found.stdout)["Dir"]) / "python" / "dist"


def _stack(
    tmp_path: Path, found: Tools, emulator: EmulatorProcess, program: Callable[[], None]
) -> Any:
    plugin_dirs = [str(found.plugin_dir), str(_dynamic_plugin_dir())]
    env = {
        **OFFLINE,
        "PULUMI_HOME": str(tmp_path / "home"),
        "PULUMI_BACKEND_URL": (tmp_path / "state").as_uri(),
        "PULUMI_CONFIG_PASSPHRASE": PASSPHRASE,
        # The dynamic provider's plugin runs `$PULUMI_PYTHON_CMD -m pulumi.dynamic`.
        "PULUMI_PYTHON_CMD": sys.executable,
        "PATH": os.pathsep.join([*plugin_dirs, str(found.pulumi.parent), os.environ["PATH"]]),
    }
    (tmp_path / "state").mkdir(exist_ok=True)
    settings = auto.ProjectSettings(name="hooks", runtime="python")
    opts = auto.LocalWorkspaceOptions(
        work_dir=str(tmp_path / "work"),
        pulumi_home=str(tmp_path / "home"),
        env_vars=env,
        project_settings=settings,
        pulumi_command=auto.PulumiCommand(root=str(found.pulumi.parent.parent)),
    )
    (tmp_path / "work").mkdir(exist_ok=True)
    stack = auto.create_or_select_stack("dev", project_name="hooks", program=program, opts=opts)
    for key, value in emulator.config().items():
        stack.set_config(key, auto.ConfigValue(value, secret=key == "dfns:authToken"))
    return stack


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
    stack = _stack(tmp_path, found, emulator, dynamic_program)
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
