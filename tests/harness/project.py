"""A Pulumi project directory as the CLI reads it: Pulumi.yaml, the stack's config file,
where the program runs and which Python runs it.

Secure config values (`secure: v1:...`) are encrypted by the real CLI's secrets
provider, which the harness does not implement: give their plaintext in the
environment variable SECRETS_ENV as a JSON object keyed by full config key
(`{"dfns:authToken": "..."}`); a `secure:` value not given there is an error.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

SECRETS_ENV = "PULUMI_HARNESS_SECRETS"


class ProjectError(Exception):
    """The project or stack cannot be used; the message says why."""


@dataclass(frozen=True)
class ConfigValue:
    # sdk/go/common/resource/config/value.go: every value is text; objects are JSON text.
    text: str
    secure: bool = False


@dataclass
class Project:
    root: Path
    name: str
    runtime: str
    options: dict[str, Any]
    main: str | None
    stack_config_dir: Path

    @classmethod
    def load(cls, root: Path) -> Project:
        root = root.resolve()
        path = root / "Pulumi.yaml"
        if not path.exists():
            raise ProjectError(f"no Pulumi project found in {root} (no Pulumi.yaml)")
        doc = yaml.safe_load(path.read_text()) or {}
        runtime = doc.get("runtime")
        name = runtime if isinstance(runtime, str) else (runtime or {}).get("name")
        options = {} if isinstance(runtime, str) else dict((runtime or {}).get("options") or {})
        if name != "python":
            raise ProjectError(f"runtime {name!r}: the harness runs python projects only")
        config_dir = root / str(doc.get("stackConfigDir") or ".")
        return cls(root, str(doc["name"]), name, options, doc.get("main"), config_dir)

    def pwd_and_main(self) -> tuple[Path, str]:
        """pkg/engine/project.go getPwdMain: no `main` -> (root, "."); a directory ->
        (that directory, "."); a file -> (its directory, its name). The pwd is both
        the program's working directory and the plugin context's Pwd, i.e. the
        working directory every provider plugin is started in
        (pkg/engine/deployment.go ProjectInfoContext, pkg/resource/plugin/plugin.go
        newPlugin(ctx, ctx.Pwd, ...))."""
        if not self.main:
            return self.root, "."
        main = Path(self.main)
        main = main if main.is_absolute() else (self.root / main).resolve()
        if not main.exists():
            raise ProjectError(f"project 'main' could not be read: {main}")
        if main.is_dir():
            return main, "."
        return main.parent, main.name

    def program_python(self, base_env: dict[str, str]) -> tuple[str, dict[str, str]]:
        """The interpreter the language host runs the program with, and its env:
        sdk/python/toolchain/pip.go resolveVirtualEnvironmentPath joins a relative
        `virtualenv` to the project ROOT (not the program directory), and Command
        runs <venv>/bin/python with ActivateVirtualEnv (PATH, VIRTUAL_ENV)."""
        env = dict(base_env)
        venv = self.options.get("virtualenv")
        if not venv and self.options.get("toolchain") == "uv":
            # sdk/python/toolchain/uv.go newUv: .venv beside the nearest uv.lock or
            # pyproject.toml; the harness takes the project root's.
            venv = ".venv"
        if not venv and self.options.get("toolchain") == "poetry":
            raise ProjectError("toolchain poetry: the harness does not resolve poetry's env")
        if not venv:
            return env.get("PULUMI_PYTHON_CMD", "python3"), env
        path = Path(venv) if Path(venv).is_absolute() else self.root / venv
        python = path / "bin" / "python"
        if not python.exists():
            raise ProjectError(
                f"The 'virtualenv' option in Pulumi.yaml is set to {str(venv)!r}, but "
                f"{str(path)!r} doesn't exist"
            )
        env["VIRTUAL_ENV"] = str(path)
        env["PATH"] = f"{path / 'bin'}{os.pathsep}{env.get('PATH', '')}"
        env.pop("PYTHONHOME", None)
        return str(python), env

    def stack_file(self, stack: str) -> Path:
        return self.stack_config_dir / f"Pulumi.{stack}.yaml"

    def stack_config(self, stack: str, env: dict[str, str]) -> dict[str, ConfigValue]:
        """Pulumi.<stack>.yaml's `config`, keys namespaced (a bare key belongs to the
        project), values as text (objects and lists JSON-encoded)."""
        path = self.stack_file(stack)
        if not path.exists():
            raise ProjectError(f"no stack config {path}")
        doc = yaml.safe_load(path.read_text()) or {}
        plaintexts = json.loads(env.get(SECRETS_ENV) or "{}")
        config: dict[str, ConfigValue] = {}
        for key, value in (doc.get("config") or {}).items():
            full = key if ":" in key else f"{self.name}:{key}"
            if isinstance(value, dict) and set(value) == {"secure"}:
                if full not in plaintexts:
                    raise ProjectError(
                        f"config {full} is a secure value the harness cannot decrypt; "
                        f"give its plaintext in {SECRETS_ENV}"
                    )
                config[full] = ConfigValue(str(plaintexts[full]), secure=True)
            elif isinstance(value, str):
                config[full] = ConfigValue(value)
            elif isinstance(value, bool):
                config[full] = ConfigValue("true" if value else "false")
            else:
                config[full] = ConfigValue(json.dumps(value))
        return config
