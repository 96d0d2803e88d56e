"""pulumi-dfns under the real `pulumi` CLI: wall time of preview and up, against the
same programs with a do-nothing dynamic provider, and the Dfns requests each sends.

For the dev stack (stacks/Pulumi.dev.yaml, 2 webhooks) and a 5-webhook stack, each
repeat makes a fresh stack of each program (ours, do-nothing; their order alternates)
and times, through the Automation API's inline path (cli_stacks.py):

    preview (all to create), up (create), preview (no changes), up (no changes),
    preview (every description changed), up (update), destroy

and counts the Dfns requests each sent (the emulator's GET /_emulator/requests). Prints
the machine, the date, the CLI and SDK versions, medians and their spread, the ratio
ours / do-nothing, and the requests against the floor (preview 0, create and update 3
per webhook, destroy 3 per webhook). Targets: preview <= 1.10x; requests at the floor.
The emulator answers at once: with real Dfns, up also waits for its round trips.

Run: .venv/bin/python benchmarks/bench_cli.py --pulumi /path/to/bin/pulumi [--repeat N]
"""

from __future__ import annotations

import argparse
import ctypes
import importlib.metadata
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from cli_stacks import (  # noqa: E402
    Cli,
    changed,
    dev_webhooks,
    many_webhooks,
    open_stack,
    set_webhooks,
    timed,
    without_program,
)

if TYPE_CHECKING:
    # Imported in main only: it loads pulumi_dfns, which a child process running the
    # do-nothing program must not.
    from tests.support.emulator import EmulatorProcess

STEPS = (
    "preview (create)",
    "up (create)",
    "preview (no changes)",
    "up (no changes)",
    "preview (update)",
    "up (update)",
    "destroy",
)
# Dfns requests per webhook at the floor: a change is challenge + signature + call.
FLOOR_PER_WEBHOOK = {"up (create)": 3, "up (update)": 3, "destroy": 3}
PREVIEW_TARGET = 1.10
PR_SET_CHILD_SUBREAPER = 36  # linux/prctl.h


OPERATIONS = {
    "preview": lambda stack: stack.preview(color="never"),
    "preview-expect-no-changes": lambda stack: stack.preview(expect_no_changes=True, color="never"),
    "up": lambda stack: stack.up(color="never"),
    "destroy": lambda stack: without_program(stack, lambda s: s.destroy(color="never")),
}


def cpu_seconds() -> float:
    """CPU time of this process and of every descendant it has reaped."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    reaped = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + reaped.ru_utime + reaped.ru_stime


def reap_orphans(limit: float = 10.0) -> None:
    """Wait for the descendants re-parented here (we are their subreaper), so their CPU
    time counts: the provider server is the plugin script's child, and outlives it."""
    ends = time.monotonic() + limit
    while time.monotonic() < ends:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            time.sleep(0.01)  # one still running: it is being stopped by the CLI


def child(spec: dict[str, Any]) -> None:
    """One command in a fresh Python process, as a program's process is started afresh
    for each command. Prints its wall time (the CLI's whole run, the program's imports
    and run included; this interpreter's start and the Automation API's set-up, the
    same for both programs, excluded) and the CPU time of all it ran (this process's
    program and language server, the CLI, the plugin and the provider server)."""
    if sys.platform == "linux":
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    stack = open_stack(spec)
    before = cpu_seconds()
    seconds, _ = timed(lambda: OPERATIONS[spec["operation"]](stack))
    reap_orphans()
    print(json.dumps({"seconds": seconds, "cpu": cpu_seconds() - before}))


Figure = tuple[float, float, int]  # wall seconds, CPU seconds, Dfns requests


def run_once(
    cli: Cli, emulator: EmulatorProcess, name: str, program: str, webhooks: dict[str, Any]
) -> dict[str, Figure]:
    """One fresh stack through every step: {step: (wall, CPU, Dfns requests)}."""
    stack = cli.stack(name, program, webhooks)
    out: dict[str, Figure] = {}

    def step(label: str, operation: str) -> None:
        emulator.clear_log()
        spec = {**cli.spec(name, program), "operation": operation}
        done = subprocess.run(
            [sys.executable, __file__, "--child", json.dumps(spec)],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise SystemExit(f"{label} of {name} failed:\n{done.stdout}\n{done.stderr}")
        got = json.loads(done.stdout.strip().splitlines()[-1])
        out[label] = (got["seconds"], got["cpu"], len(emulator.requests_log()))

    step("preview (create)", "preview")
    step("up (create)", "up")
    step("preview (no changes)", "preview-expect-no-changes")
    step("up (no changes)", "up")
    set_webhooks(stack, changed(webhooks))
    step("preview (update)", "preview")
    step("up (update)", "up")
    step("destroy", "destroy")
    stack.workspace.remove_stack(name)
    return out


def spread(values: list[float]) -> str:
    return f"{min(values):.2f}-{max(values):.2f}"


def header(cli: Cli, repeat: int) -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return (
        f"pulumi-dfns under the real CLI, {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC; "
        f"{platform.system()} {platform.machine()}, {cpu}, {os.cpu_count()} cores "
        f"(load average at start {load}), Python {platform.python_version()}; "
        f"pulumi CLI {cli.version}, SDK {importlib.metadata.version('pulumi')}; "
        f"medians of {repeat} runs (min-max)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pulumi", type=Path, help="the pulumi CLI binary (required)")
    parser.add_argument("--repeat", type=int, default=5, help="runs per stack (median)")
    parser.add_argument("--json", type=Path, help="also write the raw figures as JSON here")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(json.loads(args.child))
        return 0
    if args.pulumi is None:
        parser.error("--pulumi is required")
    from tests.support.emulator import EmulatorProcess

    work = Path(tempfile.mkdtemp(prefix="pulumi-dfns-bench-cli-"))
    emulator = EmulatorProcess(work / "emulator", "--rate-limit", "10000000").start()
    shapes = {"dev stack (2 webhooks)": dev_webhooks(), "5 webhooks": many_webhooks(5)}
    raw: dict[str, dict[str, dict[str, list[Figure]]]] = {}
    try:
        cli = Cli(args.pulumi.resolve(), work / "cli", Path(sys.prefix), emulator.config())
        title = header(cli, args.repeat)
        print(title, flush=True)
        for shape, webhooks in shapes.items():
            figures: dict[str, dict[str, list[Figure]]] = {
                kind: {s: [] for s in STEPS} for kind in ("dfns", "noop")
            }
            raw[shape] = figures
            for n in range(args.repeat):
                kinds = ("noop", "dfns") if n % 2 == 0 else ("dfns", "noop")
                for kind in kinds:
                    name = f"{kind}-{len(webhooks)}-{n}"
                    for label, got in run_once(cli, emulator, name, kind, webhooks).items():
                        figures[kind][label].append(got)
                print(f"  {shape}: run {n + 1}/{args.repeat} done", flush=True)
    finally:
        emulator.stop()
    lines = [
        title,
        "",
        "| stack | step | wall: ours / do-nothing (s) | wall ratio | CPU: ours / do-nothing (s) "
        "| CPU ratio | Dfns requests (floor) | |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    verdicts = []
    for shape, figures in raw.items():
        count = len(shapes[shape])
        for label in STEPS:
            ours, base = figures["dfns"][label], figures["noop"][label]
            wall = [f[0] for f in ours], [f[0] for f in base]
            cpu = [f[1] for f in ours], [f[1] for f in base]
            wall_ratio = statistics.median(wall[0]) / statistics.median(wall[1])
            cpu_ratio = statistics.median(cpu[0]) / statistics.median(cpu[1])
            requests = sorted({f[2] for f in ours})
            floor = FLOOR_PER_WEBHOOK.get(label, 0) * count
            verdict = []
            if label.startswith("preview"):
                verdict.append("met" if wall_ratio <= PREVIEW_TARGET else "MISSED")
            verdict.append("floor" if requests == [floor] else "ABOVE FLOOR")
            verdicts += verdict
            lines.append(
                f"| {shape} | {label} | {statistics.median(wall[0]):.2f} ({spread(wall[0])}) / "
                f"{statistics.median(wall[1]):.2f} ({spread(wall[1])}) | {wall_ratio:.2f} "
                f"| {statistics.median(cpu[0]):.2f} ({spread(cpu[0])}) / "
                f"{statistics.median(cpu[1]):.2f} ({spread(cpu[1])}) | {cpu_ratio:.2f} "
                f"| {'/'.join(map(str, requests))} ({floor}) | {', '.join(verdict)} |"
            )
    print()
    print("\n".join(lines))
    if args.json:
        args.json.write_text(json.dumps(raw, indent=2))
    return 0 if "MISSED" not in verdicts and "ABOVE FLOOR" not in verdicts else 1


if __name__ == "__main__":
    threading.current_thread().name = "bench-cli"
    sys.exit(main())
