"""A package user's set-up: the sdist and wheel, a fresh virtualenv, a project from the template.

Nothing here puts the source tree on a path: the wheel is built from a copy of the
source, installed into a virtualenv of its own, and every process of the user's
project runs from that virtualenv with the project directory as working directory
and no PYTHONPATH.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from base64 import b64encode
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "templates" / "dfns-webhooks-python"
VIRTUALENV = "venv"  # the template's `runtime.options.virtualenv`

# What the source copy leaves out: local state, caches and build output.
_NOT_SOURCE = shutil.ignore_patterns(
    ".git",
    ".venv",
    ".venv-floor",  # .ci/run's floor-SDK virtualenv
    "*.pem",
    "venv",
    "__pycache__",
    "*.egg-info",
    "build",
    "dist",
    ".pytest_cache",
    ".mypy_cache",
    ".ruff_cache",
    ".dfns-emulator",
    ".pulumi-state",
)


@dataclass(frozen=True)
class Distributions:
    sdist: Path
    wheel: Path

    @property
    def version(self) -> str:
        # pulumi_dfns-<version>-py3-none-any.whl (PEP 427 file name)
        return self.wheel.name.split("-")[1]


def build_distributions(workdir: Path) -> Distributions:
    """`python -m build` on a copy of the source: the sdist, then the wheel built from it."""
    source = workdir / "source"
    shutil.copytree(ROOT, source, ignore=_NOT_SOURCE)
    out = workdir / "dist"
    run([sys.executable, "-m", "build", "--outdir", str(out), str(source)], cwd=workdir)
    (sdist,) = out.glob("pulumi_dfns-*.tar.gz")
    (wheel,) = out.glob("pulumi_dfns-*.whl")
    return Distributions(sdist, wheel)


def user_env(**extra: str) -> dict[str, str]:
    """The environment of a user's shell: no PYTHONPATH, no active virtualenv, no DFNS_*,
    and nothing of the source tree (this worktree's `.venv/bin`) on PATH."""
    drop = ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME", "PULUMI_CONFIG")
    env = {k: v for k, v in os.environ.items() if k not in drop and not k.startswith("DFNS_")}
    env["PATH"] = os.pathsep.join(
        entry
        for entry in env.get("PATH", "").split(os.pathsep)
        if entry and not Path(entry).resolve().is_relative_to(ROOT)
    )
    return {**env, **extra}


def new_project(dest: Path, name: str, description: str) -> dict[str, Any]:
    """Make a project from the template as `pulumi new` does; answer its template section.

    `pulumi new` copies every file but `.git` (workspace.CopyTemplateFiles), replaces
    `${PROJECT}` and `${DESCRIPTION}` in text files and `${PROJECT}` in file names
    (workspace `transform`), then sets the project's name and description and drops the
    `template:` section from Pulumi.yaml (`proj.Template = nil` before SaveProject),
    all in pulumi/pulumi sdk/go/common/workspace/templates.go and pkg/cmd/pulumi/new.go.
    """
    for source in sorted(TEMPLATE.rglob("*")):
        relative = source.relative_to(TEMPLATE)
        if ".git" in relative.parts or "__pycache__" in relative.parts:
            continue
        target = dest / str(relative).replace("${PROJECT}", name)
        if source.is_dir():
            target.mkdir(parents=True, exist_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        text = source.read_text()
        target.write_text(text.replace("${PROJECT}", name).replace("${DESCRIPTION}", description))
    project = yaml.safe_load((dest / "Pulumi.yaml").read_text())
    template: dict[str, Any] = project.pop("template")
    project["name"], project["description"] = name, description
    (dest / "Pulumi.yaml").write_text(yaml.safe_dump(project, sort_keys=False))
    return template


def write_stack_config(
    project: Path, stack: str, template: dict[str, Any], answers: dict[str, str]
) -> dict[str, str]:
    """Pulumi.<stack>.yaml as `pulumi new` leaves it after the template's prompts.

    newcmd/config.go promptForConfig: keys made full (a bare key gets the project's
    name, ParseConfigKey), a value the template marks `secret` stored as `secure:` the
    secrets manager's ciphertext, the rest in plain text (SaveConfig). The ciphertext
    has the passphrase crypter's shape (sdk/go/common/resource/config/crypt.go
    symmetricCrypter: `v1:<nonce>:<AES-256-GCM ciphertext>`, base64) under a throwaway
    key: the offline harness does not decrypt config, it takes the plaintexts from
    PULUMI_HARNESS_SECRETS, which this returns (full key -> plaintext).
    """
    name = yaml.safe_load((project / "Pulumi.yaml").read_text())["name"]
    aead = AESGCM(AESGCM.generate_key(bit_length=256))
    config: dict[str, Any] = {}
    plaintexts: dict[str, str] = {}
    for key, value in answers.items():
        full = key if ":" in key else f"{name}:{key}"
        if template["config"].get(key, {}).get("secret"):
            nonce = os.urandom(12)
            sealed = aead.encrypt(nonce, value.encode(), None)
            config[full] = {
                "secure": f"v1:{b64encode(nonce).decode()}:{b64encode(sealed).decode()}"
            }
            plaintexts[full] = value
        else:
            config[full] = value
    body = {"config": dict(sorted(config.items()))}
    (project / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump(body, sort_keys=False))
    return plaintexts


def install_virtualenv(project: Path, dists: Distributions) -> Path:
    """The project's virtualenv, as `pulumi new` installs it, with the wheel for pulumi-dfns.

    `pulumi new` runs `pip install -r requirements.txt` in the `virtualenv` directory;
    the package is not on an index here, so the built wheel is given with the same
    requirements: pip takes it for the `pulumi-dfns` line only if it satisfies it.
    """
    venv = project / VIRTUALENV
    run([sys.executable, "-m", "venv", str(venv)], cwd=project)
    python = venv / "bin" / "python"
    pip = [str(python), "-m", "pip", "install", "--quiet"]
    run([*pip, str(dists.wheel), "-r", "requirements.txt"], cwd=project)
    return python


def run(command: list[str], cwd: Path, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        command, cwd=cwd, env=user_env(), capture_output=True, text=True, check=False, **kwargs
    )
    if result.returncode != 0:
        raise AssertionError(
            f"{' '.join(command)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
        )
    return result


@dataclass(frozen=True)
class UserProject:
    """A project made from the template, its virtualenv holding the wheel and nothing else."""

    dists: Distributions
    directory: Path
    python: Path
    template: dict[str, Any]  # the template section `pulumi new` answered and removed

    @property
    def virtualenv(self) -> Path:
        return self.directory / VIRTUALENV


def make_user_project(workdir: Path, name: str, description: str) -> UserProject:
    dists = build_distributions(workdir)
    directory = workdir / name
    template = new_project(directory, name, description)
    python = install_virtualenv(directory, dists)
    return UserProject(dists, directory, python, template)
