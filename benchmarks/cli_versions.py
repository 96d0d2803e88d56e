"""Which `pulumi` CLI and SDK versions run the dev stack: a table for the README's
"Supported versions".

Each cell is one CLI binary with one virtualenv (the SDK under test is the one that
virtualenv holds: the program's, through the Automation API, and the provider server's,
through the plugin script), against the local emulator, with the Dfns settings in the
stack config (the token as a secret), or with `,env` in the DFNS_* variables. The dev
stack (stacks/Pulumi.dev.yaml, 2 webhooks) goes through:

    preview (0 requests), up (2 creates, 6 requests), preview --expect-no-changes
    (0 requests), up with every description changed (6 requests, the new descriptions
    in Dfns), refresh (2 requests, no changes), destroy (6 requests, nothing left)

preview and up run the program on the Automation API's inline path; refresh and destroy
run without it, from the stored config and state (cli_stacks.py says why).

Run (each --cell is BINARY,VENV[,env]):

    .venv/bin/python benchmarks/cli_versions.py \\
        --cell /tmp/pcli/bin/pulumi,.venv --cell /tmp/pcli/bin/pulumi,.venv-floor
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

STEPS = ("preview", "up", "preview no changes", "update", "refresh", "destroy")


def run_cell(binary: Path, settings_in: str) -> dict[str, Any]:
    """One CLI with this interpreter's SDK: {step: "ok (N requests)" or what failed}.
    `settings_in`: "config" (the stack config) or "env" (the DFNS_* variables)."""
    import importlib.metadata

    from cli_stacks import Cli, changed, dev_webhooks, without_program
    from tests.support.emulator import EmulatorProcess

    from pulumi_dfns.settings import ALL_SETTINGS

    work = Path(tempfile.mkdtemp(prefix="pulumi-dfns-versions-"))
    emulator = EmulatorProcess(work / "emulator").start()
    webhooks = dev_webhooks()
    result: dict[str, Any] = {"sdk": importlib.metadata.version("pulumi"), "steps": {}}
    steps: dict[str, str] = result["steps"]
    try:
        config = emulator.config()
        in_config = config if settings_in == "config" else {}
        cli = Cli(binary, work / "cli", Path(sys.prefix), in_config)
        if settings_in == "env":
            names = {s.config_key: s.env for s in ALL_SETTINGS}
            cli.env.update({names[key]: value for key, value in config.items()})
        result["cli"] = cli.version
        stack = cli.stack("dev", "dfns", webhooks)

        def held() -> dict[str, str]:
            return {w["id"]: w.get("description", "") for w in emulator.webhooks()}

        def step(name: str, expected: int, call: Any, check: Any) -> None:
            emulator.clear_log()
            try:
                outcome = call()
            except Exception as exc:  # the cell reports any failure
                lines = [line for line in str(exc).splitlines() if "error" in line.lower()]
                steps[name] = f"FAILED: {(lines or [str(exc)])[0][:200]}"
                return
            sent = len(emulator.requests_log())
            problem = check(outcome)
            if sent != expected:
                problem = f"{sent} requests, expected {expected}"
            steps[name] = f"FAILED: {problem}" if problem else f"ok ({sent} requests)"

        count = len(webhooks)
        step(
            "preview",
            0,
            lambda: stack.preview(color="never"),
            lambda r: None if r.change_summary.get("create") == count + 1 else r.change_summary,
        )

        def created(r: Any) -> str | None:
            ids = set(r.outputs["webhookIds"].value.values())
            secret = r.outputs["webhookSecrets"].secret
            return None if ids == set(held()) and secret else f"ids {ids}, Dfns {held()}"

        step("up", 3 * count, lambda: stack.up(color="never"), created)
        step(
            "preview no changes",
            0,
            lambda: stack.preview(expect_no_changes=True, color="never"),
            lambda r: None,
        )
        new = changed(webhooks)
        stack.set_config("dfns-webhooks:webhooks", _value(json.dumps(new)))
        wanted = sorted(spec["description"] for spec in new.values())
        step(
            "update",
            3 * count,
            lambda: stack.up(color="never"),
            lambda r: None if sorted(held().values()) == wanted else f"Dfns holds {held()}",
        )
        step(
            "refresh",
            count,
            lambda: without_program(stack, lambda s: s.refresh(color="never")),
            lambda r: None if r.summary.resource_changes.get("same") == count + 1 else r.summary,
        )
        step(
            "destroy",
            3 * count,
            lambda: without_program(stack, lambda s: s.destroy(color="never")),
            lambda r: None if not held() else f"Dfns still holds {held()}",
        )
    finally:
        emulator.stop()
    return result


def _value(text: str) -> Any:
    from pulumi import automation as auto

    return auto.ConfigValue(text)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--cell",
        action="append",
        default=[],
        help="BINARY,VENV[,env]: env puts the Dfns settings in DFNS_* variables, not config",
    )
    parser.add_argument("--run-cell", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run_cell:
        print(json.dumps(run_cell(Path(args.run_cell[0]), args.run_cell[1])))
        return 0
    started = datetime.now(timezone.utc)
    rows = []
    for cell in args.cell:
        binary, venv, *rest = cell.split(",")
        settings_in = rest[0] if rest else "config"
        python = Path(venv).resolve() / "bin" / "python"
        done = subprocess.run(
            [str(python), __file__, "--run-cell", str(Path(binary).resolve()), settings_in],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            tail = done.stderr.strip().splitlines()[-1:] or ["no output"]
            rows.append(f"| {binary} | {venv} | {settings_in} | FAILED to run: {tail[0]} |")
            continue
        result = json.loads(done.stdout.strip().splitlines()[-1])
        cells = " | ".join(result["steps"].get(s, "not run") for s in STEPS)
        rows.append(f"| {result['cli']} | {result['sdk']} | {settings_in} | {cells} |")
        print(rows[-1], flush=True)
    print()
    print(f"pulumi-dfns versions, {started:%Y-%m-%d %H:%M} UTC (dev stack, local emulator)")
    print()
    print(f"| CLI | SDK | Dfns settings in | {' | '.join(STEPS)} |")
    print(f"| --- | --- | --- | {' | '.join('---' for _ in STEPS)} |")
    print("\n".join(rows))
    return 0 if all("FAILED" not in row for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
