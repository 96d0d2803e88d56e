"""YAML projects run by the real `pulumi` CLI against the `dfns` provider plugin.

A YAML program needs no SDK: the YAML language host (github.com/pulumi/pulumi-yaml,
built by scripts/install-pulumi-language-yaml) reads the plugin's schema and registers
`dfns:index:Webhook` resources itself. So these tests run plain `pulumi up`, `preview`,
`refresh`, `import` and `destroy` of a project directory, as a user does: no Automation
API, no inline language server. The plugin is this checkout's `pulumi-resource-dfns`
(the virtualenv's console script), named by `plugins.providers` in Pulumi.yaml, and
`PULUMI_IGNORE_AMBIENT_PLUGINS` keeps any other copy on PATH out of the way.

Tools are found in this order: PULUMI_DFNS_CLI / PULUMI_DFNS_YAML_HOST (paths to the
binaries), then .tools/ (the install scripts' output), then PATH. Missing, a test is
skipped naming the install step (failed in CI).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support import real_cli
from tests.support.emulator import EmulatorProcess

ROOT = Path(__file__).resolve().parents[2]
PASSPHRASE = "plugin-cli-tests"
YAML_HOST = "pulumi-language-yaml"
PLUGIN = "pulumi-resource-dfns"
OFFLINE = {
    "PULUMI_SKIP_UPDATE_CHECK": "true",
    "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
    "PULUMI_DISABLE_REGISTRY_RESOLVE": "true",
}


def _find(env: str, name: str, tools: str) -> Path | None:
    given = os.environ.get(env)
    if given:
        return Path(given)
    built = sorted((ROOT / ".tools" / tools).glob(f"*/bin/{name}"))
    if built:
        return built[-1]
    on_path = shutil.which(name)
    return Path(on_path) if on_path else None


DYNAMIC_PLUGIN = "pulumi-resource-pulumi-python"


@dataclass(frozen=True)
class Tools:
    pulumi: Path
    yaml_host: Path
    plugin_dir: Path


def install_yaml_host(timeout: float | None = 250) -> Path | None:
    """scripts/install-pulumi-language-yaml: seconds when built before; a first build
    takes minutes (tests/conftest.py runs it before the tests, with no timeout)."""
    script = ROOT / "scripts" / "install-pulumi-language-yaml"
    try:
        done = subprocess.run(
            [str(script)], stdout=subprocess.PIPE, text=True, check=False, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        return None
    lines = done.stdout.strip().splitlines()
    return Path(lines[-1]) if done.returncode == 0 and lines else None


def tools() -> Tools:
    """The CLI, the YAML language host and the plugin's directory, or a skip (a failure
    in CI) naming what is missing. The CLI is the one tests/conftest.py had
    scripts/install-pulumi-cli find or build for tests marked `realcli`."""
    pulumi = real_cli.INSTALLED.binary or _find("PULUMI_DFNS_CLI", "pulumi", "pulumi")
    host = _find("PULUMI_DFNS_YAML_HOST", YAML_HOST, "pulumi-yaml") or install_yaml_host()
    plugin_dir = Path(sys.executable).parent
    missing = []
    if pulumi is None or not pulumi.exists():
        missing.append("the pulumi CLI (scripts/install-pulumi-cli)")
    if host is None or not host.exists():
        missing.append(f"{YAML_HOST} (scripts/install-pulumi-language-yaml)")
    if not (plugin_dir / PLUGIN).exists():
        missing.append(f"{PLUGIN} beside {sys.executable} (pip install -e .)")
    if missing or pulumi is None or host is None:
        reason = "missing: " + "; ".join(missing)
        if os.environ.get("CI", "").lower() not in ("", "0", "false", "no"):
            pytest.fail(reason)
        pytest.skip(reason)
    return Tools(pulumi, host, plugin_dir)


class YamlProject:
    """One project directory, its own PULUMI_HOME and file:// backend, one stack."""

    def __init__(self, root: Path, found: Tools, name: str = "hooks") -> None:
        self.root = root
        self.tools = found
        self.name = name
        self.dir = root / "project"
        self.home = root / "home"
        self.state = root / "state"
        for path in (self.dir, self.home, self.state):
            path.mkdir(parents=True, exist_ok=True)
        self.extra_env: dict[str, str] = {}

    def env(self) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("PULUMI_", "DFNS_")) or k == "PULUMI_DFNS_CLI"
        }
        env.update(OFFLINE)
        env.update(
            PULUMI_HOME=str(self.home),
            PULUMI_BACKEND_URL=self.state.as_uri(),
            PULUMI_CONFIG_PASSPHRASE=PASSPHRASE,
            PULUMI_IGNORE_AMBIENT_PLUGINS="true",
        )
        env.update(self.extra_env)
        return env

    def write(
        self,
        resources: dict[str, Any],
        outputs: dict[str, Any] | None = None,
        variables: dict[str, Any] | None = None,
    ) -> None:
        program: dict[str, Any] = {
            "name": self.name,
            "runtime": "yaml",
            "plugins": {
                "providers": [{"name": "dfns", "path": str(self.tools.plugin_dir)}],
                "languages": [{"name": "yaml", "path": str(self.tools.yaml_host.parent)}],
            },
            "resources": resources,
        }
        if variables:
            program["variables"] = variables
        if outputs:
            program["outputs"] = outputs
        (self.dir / "Pulumi.yaml").write_text(yaml.safe_dump(program, sort_keys=False))

    def run(
        self, *args: str, check: bool = True, timeout: float = 240
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [str(self.tools.pulumi), "--non-interactive", *args],
            cwd=self.dir,
            env=self.env(),
            capture_output=True,
            text=True,
            check=False,
            timeout=timeout,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"pulumi {' '.join(args)} failed ({result.returncode}):\n"
                f"{result.stdout}\n{result.stderr}"
            )
        return result

    def init(self, emulator: EmulatorProcess | None, stack: str = "dev") -> None:
        if not (self.dir / "Pulumi.yaml").exists():
            self.write({})
        self.run("stack", "init", stack)
        if emulator is not None:
            self.use(emulator)

    def use(self, emulator: EmulatorProcess, prefix: str = "dfns") -> None:
        """The stack's `dfns:*` config from an emulator's credentials (the token secret),
        in one `pulumi config set-all` rather than a `config set` per key (each CLI
        start costs about a tenth of a second of CPU)."""
        pairs = []
        for key, value in emulator.config().items():
            name = key.split(":", 1)[1]
            kind = "secret" if name == "authToken" else "plaintext"
            pairs.append(f"--{kind}={prefix}:{name}={value}")
        self.run("config", "set-all", *pairs)

    def up(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run("up", "--yes", "--skip-preview", *args, check=check)

    def export(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.run("stack", "export").stdout)
        return data

    def resources(self, type_: str = "dfns:index:Webhook") -> dict[str, dict[str, Any]]:
        """The stack's resources of a type, by name."""
        found = {}
        for resource in self.export()["deployment"].get("resources", []):
            if resource["type"] == type_:
                found[resource["urn"].rsplit("::", 1)[1]] = resource
        return found

    def outputs(self, show_secrets: bool = False) -> dict[str, Any]:
        flags = ["--show-secrets"] if show_secrets else []
        data: dict[str, Any] = json.loads(self.run("stack", "output", "--json", *flags).stdout)
        return data


def connection(emulator: EmulatorProcess, secret: bool = True) -> dict[str, Any]:
    """An explicit provider's properties for an emulator (the token as a YAML secret, or
    as a plain literal)."""
    creds = emulator.config()
    token = creds["dfns:authToken"]
    return {
        "apiUrl": creds["dfns:apiUrl"],
        "credentialId": creds["dfns:credentialId"],
        "privateKeyFile": creds["dfns:privateKeyFile"],
        "authToken": {"fn::secret": token} if secret else token,
    }


# The CLI's sdk/v3 Go module holds the dynamic provider's plugin (python/dist/).


def dynamic_plugin_dir() -> Path:
    """Where `pulumi-resource-pulumi-python` is: PULUMI_DFNS_PYTHON_PLUGIN_DIR, else beside
    the CLI in use (scripts/install-pulumi-cli copies it there), else on PATH. Missing, it
    fails the test in CI and skips it elsewhere, as `tools()` does."""
    given = os.environ.get("PULUMI_DFNS_PYTHON_PLUGIN_DIR")
    if given:
        return Path(given)
    binary = real_cli.INSTALLED.binary
    if binary is not None and (binary.parent / DYNAMIC_PLUGIN).exists():
        return binary.parent
    on_path = shutil.which(DYNAMIC_PLUGIN)
    if on_path is not None:
        return Path(on_path).parent
    reason = (
        f"no {DYNAMIC_PLUGIN}: run scripts/install-pulumi-cli (it puts one beside the CLI) "
        "or set PULUMI_DFNS_PYTHON_PLUGIN_DIR"
    )
    if os.environ.get("CI", "").lower() not in ("", "0", "false", "no"):
        pytest.fail(reason)
    pytest.skip(reason)


def inline_stack(
    tmp_path: Path, found: Tools, emulator: EmulatorProcess, program: Callable[[], None]
) -> Any:
    """A stack run by the Python Automation API's inline path (`program=`) on the real
    CLI, with the dynamic provider's plugin and `pulumi-resource-dfns` on PATH and the
    stack's `dfns:*` config from the emulator. Returns a `pulumi.automation.Stack`."""
    from pulumi import automation as auto

    plugin_dirs = [str(found.plugin_dir), str(dynamic_plugin_dir())]
    env = {
        **OFFLINE,
        "PULUMI_HOME": str(tmp_path / "home"),
        "PULUMI_BACKEND_URL": (tmp_path / "state").as_uri(),
        "PULUMI_CONFIG_PASSPHRASE": PASSPHRASE,
        # The dynamic provider's plugin runs `$PULUMI_PYTHON_CMD -m pulumi.dynamic`.
        "PULUMI_PYTHON_CMD": sys.executable,
        "PATH": os.pathsep.join([*plugin_dirs, str(found.pulumi.parent), os.environ["PATH"]]),
    }
    (tmp_path / "state").mkdir(parents=True, exist_ok=True)
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
    stack.set_all_config(
        {
            key: auto.ConfigValue(value, secret=key == "dfns:authToken")
            for key, value in emulator.config().items()
        }
    )
    return stack
