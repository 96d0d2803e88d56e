"""What the provider plugin costs against the dynamic resource (README "The provider plugin").

    .venv/bin/python benchmarks/plugin_bench.py            # --repeat N (default 5), --hooks N

Prints medians and ratios (plugin / dynamic); it asserts nothing (a benchmark, not a
test). Measured:
- cold start to the first answered Check: `pulumi-resource-dfns` against the dynamic
  provider's server (`python -m pulumi.dynamic`, what `pulumi-resource-pulumi-python`
  runs), each started fresh, configured with the emulator's settings, asked one Check;
- `pulumi preview` (no change) and `pulumi up` (one description changed on every
  webhook) of the same stack of N webhooks, through the real CLI and the same path
  for both: the Python Automation API's inline program, `DfnsWebhook` against
  `pulumi_dfns.sdk.Webhook`;
- the requests each sent to Dfns (the emulator's log): both must sit on the floor.

Needs what tests/test_plugin_migration.py needs (the real CLI; see tests/support/
plugin_cli.py for how tools are found).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import grpc  # noqa: E402
from google.protobuf import struct_pb2  # noqa: E402
from pulumi.runtime.proto import provider_pb2, provider_pb2_grpc  # noqa: E402
from tests.support.emulator import EmulatorProcess  # noqa: E402
from tests.support.engine import ProviderServer  # noqa: E402
from tests.support.plugin_cli import Tools, inline_stack, tools  # noqa: E402

URN = "urn:pulumi:dev::hooks::dfns:index:Webhook::hook"
INPUTS = {"url": "https://hooks.example.com/dfns", "events": ["wallet.created"]}


def median(values: list[float]) -> float:
    return statistics.median(values)


def plugin_first_check(plugin: Path, config: dict[str, str]) -> float:
    """Start the plugin, Configure it, answer one Check: seconds from spawn."""
    started = time.perf_counter()
    # The engine address is only dialled for a warning, and this Check raises none.
    proc = subprocess.Popen(
        [str(plugin), "127.0.0.1:1"], stdout=subprocess.PIPE, text=True, env=os.environ.copy()
    )
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline().strip())
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        stub = provider_pb2_grpc.ResourceProviderStub(channel)
        args = struct_pb2.Struct()
        args.update({key.split(":", 1)[1]: value for key, value in config.items()})
        stub.Configure(provider_pb2.ConfigureRequest(args=args, acceptSecrets=True))
        news = struct_pb2.Struct()
        news.update(INPUTS)
        answer = stub.Check(provider_pb2.CheckRequest(urn=URN, news=news))
        assert not answer.failures, answer.failures
        elapsed = time.perf_counter() - started
        channel.close()
    finally:
        proc.terminate()
        proc.wait()
    return elapsed


def dynamic_first_check(config: dict[str, str]) -> float:
    started = time.perf_counter()
    server = ProviderServer()
    server.configure(config)
    server.check(dict(INPUTS))
    elapsed = time.perf_counter() - started
    server.close()
    return elapsed


def programs(count: int, description: list[str]) -> tuple[Callable[[], None], Callable[[], None]]:
    def dynamic() -> None:
        from pulumi_dfns import DfnsWebhook

        for n in range(count):
            DfnsWebhook(f"hook{n}", **INPUTS, description=description[0])  # type: ignore[arg-type]

    def plugin() -> None:
        from pulumi_dfns.sdk import Webhook

        for n in range(count):
            Webhook(f"hook{n}", **INPUTS, description=description[0])  # type: ignore[arg-type]

    return dynamic, plugin


def cli_times(
    work: Path,
    found: Tools,
    emulator: EmulatorProcess,
    program: Callable[[], None],
    description: list[str],
    repeat: int,
) -> dict[str, Any]:
    stack = inline_stack(work, found, emulator, program)
    stack.up()
    previews: list[float] = []
    ups: list[float] = []
    preview_requests = up_requests = 0
    for n in range(repeat):
        emulator.clear_log()
        started = time.perf_counter()
        stack.preview()
        previews.append(time.perf_counter() - started)
        preview_requests = len(emulator.requests_log())
        description[0] = f"round {n}"
        emulator.clear_log()
        started = time.perf_counter()
        stack.up()
        ups.append(time.perf_counter() - started)
        up_requests = len(emulator.requests_log())
    stack.destroy()
    return {
        "preview": median(previews),
        "up": median(ups),
        "preview_requests": preview_requests,
        "up_requests": up_requests,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--hooks", type=int, default=3)
    options = parser.parse_args()
    found = tools()
    plugin = found.plugin_dir / "pulumi-resource-dfns"
    with tempfile.TemporaryDirectory() as scratch:
        emulator = EmulatorProcess(Path(scratch) / "emulator").start()
        try:
            config = emulator.config()
            # Interleaved, so that the machine's load (other processes) falls on both alike.
            ours: list[float] = []
            theirs: list[float] = []
            for _ in range(options.repeat):
                ours.append(plugin_first_check(plugin, config))
                theirs.append(dynamic_first_check(config))
            description = ["start"]
            dynamic, plugin_program = programs(options.hooks, description)
            dyn = cli_times(
                Path(scratch) / "dyn", found, emulator, dynamic, description, options.repeat
            )
            plg = cli_times(
                Path(scratch) / "plg", found, emulator, plugin_program, description, options.repeat
            )
        finally:
            emulator.stop()
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    print(
        f"plugin benchmark, {when}; {platform.system()} {platform.machine()}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}; "
        f"medians of {options.repeat} runs; {options.hooks} webhooks per stack\n"
    )
    print("| measure | dynamic resource | plugin | ratio plugin/dynamic |")
    print("| --- | --- | --- | --- |")
    rows = [
        ("cold start to first Check", median(theirs), median(ours)),
        ("`pulumi preview`, no change", dyn["preview"], plg["preview"]),
        (f"`pulumi up`, {options.hooks} descriptions changed", dyn["up"], plg["up"]),
    ]
    for name, theirs_s, ours_s in rows:
        print(f"| {name} | {theirs_s:.2f} s | {ours_s:.2f} s | {ours_s / theirs_s:.2f} |")
    print(
        f"| requests to Dfns per preview | {dyn['preview_requests']} | "
        f"{plg['preview_requests']} | |"
    )
    print(f"| requests to Dfns per up | {dyn['up_requests']} | {plg['up_requests']} | |")


if __name__ == "__main__":
    main()
