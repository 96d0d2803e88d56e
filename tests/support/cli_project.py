"""Projects for the harness (tests/harness): a copy of the reference project, or a
small program of a test's own, each with `.venv` linked to the interpreter running the
tests (so the program and the provider use the SDK under test, as `.venv` would)."""

from __future__ import annotations

import base64
import json
import shutil
import sqlite3
import sys
from pathlib import Path
from typing import Any

import yaml

from tests.harness import Harness
from tests.support.emulator import EmulatorProcess

ROOT = Path(__file__).resolve().parent.parent.parent
PASSPHRASE = "harness-tests"


def reference_project(directory: Path) -> Path:
    """The reference project as a fresh clone has it (Pulumi.yaml, __main__.py,
    requirements.txt, stacks/), its `.venv` pointing at this interpreter's prefix."""
    directory.mkdir(parents=True, exist_ok=True)
    for name in ("Pulumi.yaml", "__main__.py", "requirements.txt"):
        shutil.copy(ROOT / name, directory / name)
    stacks = directory / "stacks"
    stacks.mkdir(exist_ok=True)
    for path in (ROOT / "stacks").iterdir():
        if path.suffix in (".py", ".yaml"):
            shutil.copy(path, stacks / path.name)
    link_venv(directory)
    return directory


def link_venv(directory: Path) -> None:
    venv = directory / ".venv"
    if not venv.exists():
        venv.symlink_to(Path(sys.prefix), target_is_directory=True)


def program_project(directory: Path, program: str, config: dict[str, Any]) -> Path:
    """A project whose __main__.py is `program`, with stack `dev`'s config."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "Pulumi.yaml").write_text(
        "name: harness-program\nruntime:\n  name: python\n  options:\n"
        "    toolchain: pip\n    virtualenv: .venv\n"
    )
    (directory / "__main__.py").write_text(program)
    write_stack(directory, "dev", config)
    link_venv(directory)
    return directory


def stack_file(project: Path, stack: str = "dev") -> Path:
    doc = yaml.safe_load((project / "Pulumi.yaml").read_text())
    return project / str(doc.get("stackConfigDir") or ".") / f"Pulumi.{stack}.yaml"


def read_stack(project: Path, stack: str = "dev") -> dict[str, Any]:
    config: dict[str, Any] = yaml.safe_load(stack_file(project, stack).read_text())["config"]
    return config


def write_stack(project: Path, stack: str, config: dict[str, Any]) -> None:
    stack_file(project, stack).write_text(yaml.safe_dump({"config": config}, sort_keys=False))


def emulator_env(emulator: EmulatorProcess, **extra: str) -> dict[str, str]:
    """The environment `pulumi` gets from the quickstart: DFNS_* from credentials.json."""
    credentials = emulator.credentials()
    return {
        **base_env(),
        "DFNS_API_URL": credentials["apiUrl"],
        "DFNS_AUTH_TOKEN": credentials["authToken"],
        "DFNS_CREDENTIAL_ID": credentials["credentialId"],
        "DFNS_PRIVATE_KEY_FILE": credentials["privateKeyFile"],
        **extra,
    }


def base_env() -> dict[str, str]:
    """The test's environment without any DFNS_* variable, with a passphrase."""
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("DFNS_")}
    env["PULUMI_CONFIG_PASSPHRASE"] = PASSPHRASE
    return env


def harness(project: Path, state: Path, env: dict[str, str]) -> Harness:
    return Harness(project, state, env=env)


def checkpoint_text(h: Harness, stack: str = "dev") -> str:
    return h.checkpoint_path(stack).read_text()


def webhooks_in_state(h: Harness, stack: str = "dev") -> dict[str, dict[str, Any]]:
    """name -> {id, inputs, outputs} for each live webhook in the checkpoint."""
    return {
        r.name: {"id": r.id, "inputs": r.inputs, "outputs": r.outputs}
        for r in h.checkpoint(stack).custom_resources()
    }


def revoke_token(emulator: EmulatorProcess, token: str) -> None:
    """Revoke a bearer token in the emulator's store: it has no route for that, and
    rotation means the old token stops working. Fails loudly if nothing matched."""
    payload = token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    db = sqlite3.connect(emulator.data_dir / "emulator.sqlite3")
    try:
        changed = db.execute("UPDATE tokens SET revoked=1 WHERE token_id=?", (claims["jti"],))
        db.commit()
        assert changed.rowcount == 1, "the emulator's token store changed shape"
    finally:
        db.close()
