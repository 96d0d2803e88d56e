"""`python -m pulumi_dfns.quickstart`: the main job on the embedded default.

Starts the local Dfns emulator and runs `pulumi up --stack dev --yes` for the reference
project (Pulumi.yaml, stacks/) on a local file backend, handing the emulator's
credentials to the provider through DFNS_* environment variables. Tracked files are left
as they were: the stack's config file is put back byte for byte afterwards (see
`left_as_found`).

The CLI is the one on PATH, else the newest `scripts/install-pulumi-cli` built into the
project's `.tools/pulumi/<version>/bin/`. With the Python language host
(`pulumi-language-python`) beside it or on PATH, as every CLI release ships it, it runs
`pulumi up` itself. Without one (a CLI built from its Go module where the host's module
cannot be had), it runs the same program through the Python Automation API's inline
path: the program runs in this process behind the Automation API's language server, and
the CLI is handed `--client=ADDR` (pulumi/automation/_stack.py `up`).

Where no `pulumi` CLI is found, it says how to install it, then shows the same provider
at work without the engine: the dev stack's webhooks go through check, diff, create,
read, update and delete against the emulator, as the engine would call them.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .emulator.launch import launch
from .errors import DfnsError
from .settings import ALL_SETTINGS, API_URL, AUTH_TOKEN, CREDENTIAL_ID, PRIVATE_KEY_FILE, Setting

INSTALL_HINT = (
    "The pulumi CLI is not installed (not found on PATH or in .tools/pulumi/). Install it\n"
    "with\n"
    "    curl -fsSL https://get.pulumi.com | sh\n"
    "(or see https://www.pulumi.com/docs/install/; with Go and its module proxy:\n"
    "scripts/install-pulumi-cli), then run this command again to deploy the dev stack\n"
    "with `pulumi up`."
)
LANGUAGE_HOST = "pulumi-language-python"


def find_pulumi(project: Path) -> Path | None:
    """`pulumi` on PATH, else the newest in the project's .tools/pulumi/<version>/bin/."""
    on_path = shutil.which("pulumi")
    if on_path is not None:
        return Path(on_path)

    def version(path: Path) -> tuple[int, ...]:
        numbers = path.parent.parent.name.lstrip("v").split(".")
        return tuple(int(n) if n.isdigit() else -1 for n in numbers)

    built = [p for p in (project / ".tools" / "pulumi").glob("v*/bin/pulumi") if p.is_file()]
    return max(built, key=version) if built else None


def has_language_host(pulumi: Path) -> bool:
    """Whether the CLI can run a python project itself: the engine finds a language host
    beside the `pulumi` binary or on PATH (pulumi/pulumi sdk/go/common/workspace/
    plugins.go, GetPluginPath for bundled plugins)."""
    return (pulumi.parent / LANGUAGE_HOST).is_file() or shutil.which(LANGUAGE_HOST) is not None


def runtime_options_env(project: Path) -> dict[str, str]:
    """PULUMI_RUNTIME_<KEY> for Pulumi.yaml's runtime options, as the engine gives them to
    a plugin (pkg/resource/plugin/provider_plugin.go). Under `--client` the CLI replaces
    the project's runtime (pkg/cmd/pulumi/operations/io.go readProjectForUpdate), so the
    dynamic provider's shim would not learn `virtualenv` and would run `python3` from
    PATH; given in the environment, it finds the project's .venv as with `pulumi up`."""
    import yaml

    runtime = (yaml.safe_load((project / "Pulumi.yaml").read_text()) or {}).get("runtime")
    options = runtime.get("options", {}) if isinstance(runtime, dict) else {}
    return {f"PULUMI_RUNTIME_{k.upper()}": str(v) for k, v in options.items()}


@contextmanager
def running_emulator(data_dir: Path) -> Iterator[str]:
    """Run the emulator until the block ends; yield its URL."""
    proc, url = launch(data_dir)
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def emulator_settings(data_dir: Path) -> dict[Setting, str]:
    """The emulator's credentials.json, keyed by the provider setting each value feeds."""
    credentials = json.loads((data_dir / "credentials.json").read_text())
    return {
        API_URL: credentials["apiUrl"],
        AUTH_TOKEN: credentials["authToken"],
        CREDENTIAL_ID: credentials["credentialId"],
        PRIVATE_KEY_FILE: credentials["privateKeyFile"],
    }


def stack_config_file(project: Path, stack: str) -> Path:
    """Pulumi.<stack>.yaml, in the project's `stackConfigDir` (the project root if unset)."""
    import yaml

    settings = yaml.safe_load((project / "Pulumi.yaml").read_text()) or {}
    return project / str(settings.get("stackConfigDir") or ".") / f"Pulumi.{stack}.yaml"


@contextmanager
def left_as_found(path: Path) -> Iterator[None]:
    """Put `path` back byte for byte (or remove it, if it did not exist) when the block ends.

    `pulumi stack select --create` with the passphrase secrets provider writes an
    `encryptionsalt` into the stack's config file (pulumi/pulumi pkg/cmd/pulumi/stack/
    io.go `CreateStack` -> `SaveProjectStack`), and `pulumi up` writes it back whenever
    it is missing. For the dev stack that file is tracked in git: a first run must leave
    the checkout clean. The salt is not lost: `CreateStack` also stores the secrets
    manager in the stack's state (the git-ignored .pulumi-state), which later runs fall
    back to (PULUMI_FALLBACK_TO_STATE_SECRETS_MANAGER, see `pulumi_up`).
    """
    before = path.read_bytes() if path.exists() else None
    try:
        yield
    finally:
        if before is None:
            path.unlink(missing_ok=True)
        elif not path.exists() or path.read_bytes() != before:
            path.write_bytes(before)


def cli_env(project: Path, env: dict[str, str]) -> dict[str, str]:
    """What `pulumi` gets besides the caller's environment: a local file backend, the
    passphrase, the salt's fallback, no update check."""
    backend = project / ".pulumi-state"
    backend.mkdir(exist_ok=True)
    return {
        **env,
        "PULUMI_BACKEND_URL": backend.resolve().as_uri(),
        # The local backend encrypts stack secrets with a passphrase; keep the user's.
        "PULUMI_CONFIG_PASSPHRASE": os.environ.get("PULUMI_CONFIG_PASSPHRASE", "dev"),
        # With no salt in the stack's config file (put back as found after each run),
        # use the secrets manager recorded in the stack's state instead of minting a new
        # one (pulumi/pulumi pkg/cmd/pulumi/stack/secrets.go `GetSecretsManager`,
        # sdk/go/common/env/env.go; pulumi CLI 3.134 or later).
        "PULUMI_FALLBACK_TO_STATE_SECRETS_MANAGER": "true",
        "PULUMI_SKIP_UPDATE_CHECK": "true",
    }


def pulumi_up(pulumi: str, project: Path, stack: str, env: dict[str, str]) -> int:
    """`pulumi up` on a local file backend inside the project directory."""
    env = {**os.environ, **cli_env(project, env)}
    with left_as_found(stack_config_file(project, stack)):
        select = [pulumi, "stack", "select", "--create", stack, "--cwd", str(project)]
        if subprocess.run(select, env=env, check=False).returncode != 0:
            return 1
        up = [pulumi, "up", "--stack", stack, "--yes", "--cwd", str(project)]
        return subprocess.run(up, env=env, check=False).returncode


def pulumi_up_inline(pulumi: Path, project: Path, stack: str, env: dict[str, str]) -> int:
    """The same `pulumi up` through the Python Automation API's inline path: the project's
    program runs in this process, served by the Automation API's language server, and the
    CLI is run with `--client` (it needs no language host of its own). The Automation API
    runs `up --yes --skip-preview` (automation/_stack.py) and streams the CLI's output."""
    import runpy

    from pulumi import automation as auto

    def program() -> None:
        runpy.run_path(str(project.resolve()), run_name="__main__")

    # PulumiCommand(root) runs <root>/bin/pulumi and puts that bin/ first on PATH, where
    # the dynamic provider's plugin script lies (automation/_cmd.py `_fixup_path`).
    root = pulumi.parent.parent if pulumi.parent.name == "bin" else None
    command = auto.PulumiCommand(root=str(root) if root else None)
    env_vars = {**cli_env(project, env), **runtime_options_env(project)}
    with left_as_found(stack_config_file(project, stack)):
        workspace = auto.LocalWorkspace(
            work_dir=str(project), program=program, env_vars=env_vars, pulumi_command=command
        )
        target = auto.Stack.create_or_select(stack, workspace)
        target.up(on_output=print, program=program)
    return 0


def stack_webhooks(project: Path, stack: str) -> dict[str, dict[str, Any]]:
    import yaml

    config = yaml.safe_load(stack_config_file(project, stack).read_text())
    webhooks: dict[str, dict[str, Any]] = config["config"]["dfns-webhooks:webhooks"]
    return webhooks


def without_engine(project: Path, stack: str, settings: dict[Setting, str]) -> None:
    """Call DfnsWebhookProvider as the engine would, for each webhook of the stack."""
    from pulumi.dynamic import Config, ConfigureRequest

    from .inputs import CONFIG_FIELDS
    from .provider import DfnsWebhookProvider

    provider = DfnsWebhookProvider()
    config = {setting.config_key: value for setting, value in settings.items()}
    provider.configure(ConfigureRequest(Config(config, "dfns-webhooks")))
    for name, spec in sorted(stack_webhooks(project, stack).items()):
        props = {CONFIG_FIELDS.get(k, k): v for k, v in spec.items()}
        checked = provider.check({}, props)
        if checked.failures:
            problems = "; ".join(f"{f.property}: {f.reason}" for f in checked.failures)
            raise DfnsError(f"{name}: {problems}")
        inputs = checked.inputs
        created = provider.create(inputs)
        outs = created.outs or {}
        print(f"  + {name:<10} created {created.id}  events={outs['events']}  secret=[secret]")
        read = provider.read(created.id, outs)
        same = provider.diff(created.id, read.outs or {}, inputs)
        print(f"  = {name:<10} refreshed: {'no drift' if not same.changes else 'drift'}")
        news = {**inputs, "description": f"{inputs.get('description', name)} (updated)"}
        updated = provider.update(created.id, outs, news)
        print(f"  ~ {name:<10} updated description={(updated.outs or {})['description']!r}")
        provider.delete(created.id, updated.outs or {})
        print(f"  - {name:<10} deleted {created.id}")


def ignore_settings_from_the_shell() -> list[str]:
    """Remove every DFNS_* setting variable from this process's environment (and so from
    `pulumi up`'s): the quickstart runs on the emulator's own credentials, and a
    DFNS_PRIVATE_KEY or DFNS_PRIVATE_KEY_PASSPHRASE the user happens to have would be
    read beside them. Answers the names removed (never their values)."""
    names = sorted(s.env for s in ALL_SETTINGS if s.env in os.environ)
    for name in names:
        del os.environ[name]
    return names


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pulumi_dfns.quickstart")
    parser.add_argument("--data-dir", type=Path, default=Path(".dfns-emulator"))
    parser.add_argument("--project", type=Path, default=Path.cwd())
    parser.add_argument("--stack", default="dev")
    args = parser.parse_args(argv)
    project: Path = args.project
    if not (project / "Pulumi.yaml").exists():
        print(
            f"quickstart: no Pulumi.yaml in {project}; run it from the repository root",
            file=sys.stderr,
        )
        return 2
    pulumi = find_pulumi(project)
    ignored = ignore_settings_from_the_shell()
    if ignored:
        print(
            f"quickstart: ignoring {', '.join(ignored)} from your shell: the quickstart uses "
            "the local emulator's own credentials",
            file=sys.stderr,
        )
    try:
        with running_emulator(args.data_dir) as url:
            print(f"local Dfns emulator at {url}")
            settings = emulator_settings(args.data_dir)
            if pulumi is not None:
                env = {setting.env: value for setting, value in settings.items()}
                if has_language_host(pulumi):
                    return pulumi_up(str(pulumi), project, args.stack, env)
                print(
                    f"pulumi CLI {pulumi}: no {LANGUAGE_HOST} beside it or on PATH, so the "
                    "program runs through the Python Automation API's inline path (--client)"
                )
                return pulumi_up_inline(pulumi, project, args.stack, env)
            print(INSTALL_HINT, file=sys.stderr)
            print(f"\nMeanwhile, the {args.stack} stack's webhooks through DfnsWebhookProvider:")
            without_engine(project, args.stack, settings)
    except Exception as exc:  # a one-line reason, never a traceback, for a first run
        print(f"quickstart failed: {exc}", file=sys.stderr)
        return 1
    print("done: each change was one signed Dfns user action (challenge, signature, call)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
