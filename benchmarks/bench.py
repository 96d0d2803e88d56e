"""pulumi-dfns benchmark: the protocol minimum, measured, against the official Dfns SDK.

Starts the local Dfns emulator and the SDK's provider server (`python -m pulumi.dynamic`)
and prints a table of medians over repeated runs:

1. HTTP requests per operation against the minimum (preview 0, create/update/delete 3,
   refresh 1);
2. TCP connections opened by 200 operations from 4 concurrent callers;
3. provider cold start (spawn to first answered Check), ours against a do-nothing provider;
4. 200 updates through the provider server, 4 callers, 20 ms emulator latency, against
   the ideal 200 x 3 x 20 ms / 4;
5. the same 200 updates written with the official `dfns-sdk`, and each client's CPU
   time per update at 0 ms latency;
6. preview (Check + Diff) of 1,000 webhooks through the provider server.

Run: .venv/bin/python benchmarks/bench.py [--repeat N] [--only cold_start ...]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import dill

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from noop_provider import NoopProvider  # noqa: E402
from tests.support.emulator import EmulatorProcess  # noqa: E402
from tests.support.engine import ProviderServer, plaintext  # noqa: E402

from pulumi_dfns.client import DfnsClient  # noqa: E402

CALLERS = 4
OPERATIONS = 200
LATENCY = 0.020
INPUTS = {"url": "https://receiver.example/bench", "events": ["wallet.created"]}


def median(values: list[float]) -> float:
    return statistics.median(values)


class Bench:
    def __init__(self, repeat: int) -> None:
        self.repeat = repeat
        self.tmp = Path(tempfile.mkdtemp(prefix="pulumi-dfns-bench-"))
        self.emulator = EmulatorProcess(
            self.tmp / "emulator", "--max-webhooks", "100000", "--rate-limit", "10000000"
        ).start()
        self.rows: list[tuple[str, str, str, str]] = []
        self.urls: dict[str, str] = {}  # webhook id -> url, for whole-state updates

    def close(self) -> None:
        self.emulator.stop()

    def engine(self) -> ProviderServer:
        server = ProviderServer()
        server.configure(self.emulator.config())
        return server

    def row(self, what: str, measured: str, target: str, verdict: str) -> None:
        self.rows.append((what, measured, target, verdict))
        print(f"  {what}: {measured} (target {target}) {verdict}", flush=True)

    # 1 ---------------------------------------------------------------------------------

    def requests_per_operation(self) -> None:
        server = self.engine()
        minimum = {"preview": 0, "create": 3, "update": 3, "refresh": 1, "delete": 3}
        counts: dict[str, list[float]] = {op: [] for op in minimum}

        def requests_since_last() -> float:
            count = len(self.emulator.requests_log())
            self.emulator.clear_log()
            return count

        try:
            for _ in range(self.repeat):
                inputs = server.check(INPUTS).inputs
                self.emulator.clear_log()
                webhook_id, outs = server.create(inputs)
                counts["create"].append(requests_since_last())
                news = {**inputs, "description": "bench"}
                server.check(news)
                server.diff(webhook_id, plaintext(outs), news)
                counts["preview"].append(requests_since_last())
                outs = server.update(webhook_id, outs, news)
                counts["update"].append(requests_since_last())
                server.read(webhook_id, outs)
                counts["refresh"].append(requests_since_last())
                server.delete(webhook_id, outs)
                counts["delete"].append(requests_since_last())
        finally:
            server.close()
        for op, floor in minimum.items():
            got = median(counts[op])
            ratio = "1.0" if got == floor else ("n/a" if floor == 0 else f"{got / floor:.2f}")
            ok = got == floor
            self.row(
                f"HTTP requests per {op}",
                f"{got:g} (ratio {ratio})",
                f"{floor}",
                "met" if ok else "MISSED",
            )

    # 2, 4, 5 ---------------------------------------------------------------------------

    def _webhooks(self, client: DfnsClient, count: int) -> list[str]:
        ids = []
        for n in range(count):
            url = f"https://receiver.example/bench/{n}"
            webhook_id = client.create_webhook(url, ["wallet.created"])["id"]
            self.urls[webhook_id] = url
            ids.append(webhook_id)
        return ids

    def _describe(self, client: DfnsClient, webhook_id: str, description: str) -> None:
        """An update of the description: the client sends the whole state, as it must."""
        client.update_webhook(
            webhook_id,
            url=self.urls[webhook_id],
            events=["wallet.created"],
            status="Enabled",
            description=description,
        )

    def ours_updates(self, with_preview: bool) -> tuple[float, int]:
        """Wall time of 200 Update calls by 4 callers (each after its Check and Diff
        when `with_preview`, as `pulumi up` sends them); connections opened."""
        server = self.engine()
        client = self.emulator.client()
        ids = self._webhooks(client, CALLERS)
        client.close()
        try:
            states = {}
            for webhook_id in ids:
                _, outs, _ = server.read(webhook_id, {})
                states[webhook_id] = plaintext(outs)
            # Warm the pickled provider and the channel; connections are counted after.
            server.check(INPUTS)
            before = self.emulator.connections_opened()

            def caller(webhook_id: str) -> None:
                outs = states[webhook_id]
                for n in range(OPERATIONS // CALLERS):
                    program = {k: outs[k] for k in ("url", "events", "status") if k in outs} | {
                        "description": f"n{n}"
                    }
                    if with_preview:
                        news = server.check(program).inputs
                        server.diff(webhook_id, outs, news)
                    else:
                        news = program
                    outs = plaintext(server.update(webhook_id, outs, news))

            started = time.perf_counter()
            with ThreadPoolExecutor(CALLERS) as pool:
                list(pool.map(caller, ids))
            wall = time.perf_counter() - started
            opened = self.emulator.connections_opened() - before
        finally:
            server.close()
        return wall, opened

    def sdk_client(self) -> Any:
        from dfns_sdk import DfnsClient as SdkClient
        from dfns_sdk import DfnsClientConfig, KeySigner

        creds = self.emulator.credentials()
        signer = KeySigner(creds["credentialId"], Path(creds["privateKeyFile"]).read_text())
        config = DfnsClientConfig(
            auth_token=creds["authToken"], base_url=creds["apiUrl"], signer=signer
        )
        return SdkClient(config)

    def sdk_updates(self) -> tuple[float, int]:
        sdk = self.sdk_client()
        ids = self._webhooks(self.emulator.client(), CALLERS)
        sdk.webhooks.get_webhook(ids[0])  # warm up, as the provider warm-up above
        before = self.emulator.connections_opened()

        def caller(webhook_id: str) -> None:
            for n in range(OPERATIONS // CALLERS):
                sdk.webhooks.update_webhook(webhook_id, {"description": f"n{n}"})

        started = time.perf_counter()
        with ThreadPoolExecutor(CALLERS) as pool:
            list(pool.map(caller, ids))
        wall = time.perf_counter() - started
        opened = self.emulator.connections_opened() - before
        sdk._http.close()
        return wall, opened

    def client_updates(self) -> float:
        """The same 200 updates with our DfnsClient called directly (no provider server)."""
        client = self.emulator.client()
        ids = self._webhooks(client, CALLERS)

        def caller(webhook_id: str) -> None:
            for n in range(OPERATIONS // CALLERS):
                self._describe(client, webhook_id, f"n{n}")

        started = time.perf_counter()
        with ThreadPoolExecutor(CALLERS) as pool:
            list(pool.map(caller, ids))
        wall = time.perf_counter() - started
        client.close()
        return wall

    def throughput(self) -> None:
        self.emulator.set_latency(LATENCY)
        ours: list[float] = []
        ours_up: list[float] = []
        theirs: list[float] = []
        direct: list[float] = []
        connections: list[int] = []
        sdk_connections: list[int] = []
        try:
            for _ in range(self.repeat):
                wall, opened = self.ours_updates(with_preview=False)
                ours.append(wall)
                connections.append(opened)
                wall, opened = self.ours_updates(with_preview=True)
                ours_up.append(wall)
                connections.append(opened)
                wall, opened = self.sdk_updates()
                theirs.append(wall)
                sdk_connections.append(opened)
                direct.append(self.client_updates())
        finally:
            self.emulator.set_latency(0)
        ideal = OPERATIONS * 3 * LATENCY / CALLERS
        self.row(
            f"TCP connections, {OPERATIONS} updates by {CALLERS} callers",
            f"{max(connections)} (dfns-sdk: {max(sdk_connections)})",
            f"<= {CALLERS}",
            "met" if max(connections) <= CALLERS else "MISSED",
        )
        ratio = median(ours) / ideal
        self.row(
            f"{OPERATIONS} Update calls via provider server, {CALLERS} callers, 20 ms latency",
            f"{median(ours):.2f} s; ideal {ideal:.2f} s; ratio {ratio:.2f}",
            "<= 1.2",
            "met" if ratio <= 1.2 else "MISSED",
        )
        self.row(
            "the same with Check + Diff before each Update (as `pulumi up`)",
            f"{median(ours_up):.2f} s; ratio to ideal {median(ours_up) / ideal:.2f}",
            "(for information)",
            "",
        )
        self.row(
            f"same {OPERATIONS} updates with dfns-sdk (4 threads, one client)",
            f"{median(theirs):.2f} s; ours/theirs {median(ours) / median(theirs):.2f}",
            "ours/theirs <= 1.0",
            "met" if median(ours) <= median(theirs) else "MISSED",
        )
        self.row(
            f"same {OPERATIONS} updates with our DfnsClient directly (4 threads, one client)",
            f"{median(direct):.2f} s; ours direct/theirs {median(direct) / median(theirs):.2f}",
            "(for information)",
            "",
        )

    def cpu_per_update(self) -> None:
        count = 100
        ours_client = self.emulator.client()
        sdk = self.sdk_client()
        webhook_id = self._webhooks(ours_client, 1)[0]
        ours: list[float] = []
        theirs: list[float] = []
        for _ in range(self.repeat):
            started = time.process_time()
            for n in range(count):
                self._describe(ours_client, webhook_id, f"o{n}")
            ours.append((time.process_time() - started) / count)
            started = time.process_time()
            for n in range(count):
                sdk.webhooks.update_webhook(webhook_id, {"description": f"s{n}"})
            theirs.append((time.process_time() - started) / count)
        self.row(
            "client CPU per update at 0 ms latency (in-process)",
            f"ours {median(ours) * 1000:.2f} ms; dfns-sdk {median(theirs) * 1000:.2f} ms",
            "ours <= dfns-sdk",
            "met" if median(ours) <= median(theirs) else "MISSED",
        )

    # 3 ---------------------------------------------------------------------------------

    @staticmethod
    def noop_provider() -> str:
        return base64.b64encode(dill.dumps(NoopProvider(), recurse=True)).decode()

    def cold_start(self) -> None:
        noop = self.noop_provider()
        env = {"PYTHONPATH": str(ROOT / "benchmarks")}
        config = self.emulator.config()

        def first_check(provider: str | None) -> float:
            started = time.perf_counter()
            server = ProviderServer(env=env, provider=provider)
            server.configure(config)
            server.check(INPUTS)
            elapsed = time.perf_counter() - started
            server.close()
            return elapsed

        ours: list[float] = []
        baseline: list[float] = []
        for _ in range(max(5, self.repeat)):
            baseline.append(first_check(noop))
            ours.append(first_check(None))
        ratio = median(ours) / median(baseline)
        self.row(
            "provider cold start to first Check",
            f"ours {median(ours) * 1000:.0f} ms; do-nothing {median(baseline) * 1000:.0f} ms; "
            f"ratio {ratio:.2f}",
            "<= 1.2",
            "met" if ratio <= 1.2 else "MISSED",
        )

    # 6 ---------------------------------------------------------------------------------

    def preview(self) -> None:
        count = 1000
        server = self.engine()
        state = {
            **server.check(INPUTS).inputs,
            "secret": "s",
            "date_created": "d",
            "date_updated": "d",
        }
        noop = ProviderServer(
            env={"PYTHONPATH": str(ROOT / "benchmarks")}, provider=self.noop_provider()
        )
        noop.configure({})
        per: list[float] = []
        baseline: list[float] = []

        def preview(engine: ProviderServer) -> float:
            started = time.perf_counter()
            for n in range(count):
                news = engine.check({**INPUTS, "description": f"d{n}"}).inputs
                engine.diff(f"wh-{n}", state, news)
            return (time.perf_counter() - started) / count

        self.emulator.clear_log()
        try:
            for _ in range(self.repeat):
                per.append(preview(server))
                baseline.append(preview(noop))
        finally:
            server.close()
            noop.close()
        requests = len(self.emulator.requests_log())
        self.row(
            f"preview (Check + Diff) of {count} webhooks",
            f"{median(per) * 1000:.2f} ms per resource ({median(per) * count:.2f} s in all; "
            f"do-nothing provider {median(baseline) * 1000:.2f} ms); "
            f"{requests} HTTP requests",
            "0 HTTP requests",
            "met" if requests == 0 else "MISSED",
        )

    def header(self) -> str:
        cpu = "unknown CPU"
        try:
            for line in Path("/proc/cpuinfo").read_text().splitlines():
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
        except OSError:
            pass
        return (
            f"pulumi-dfns benchmark, {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC; "
            f"{platform.system()} {platform.machine()}, {cpu}, {os.cpu_count()} cores, "
            f"Python {platform.python_version()}; medians of {self.repeat} runs"
        )

    def table(self) -> str:
        lines = [
            self.header(),
            "",
            "| measure | result | target | |",
            "| --- | --- | --- | --- |",
        ]
        lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in self.rows]
        return "\n".join(lines)


MEASURES = ("requests_per_operation", "cold_start", "throughput", "cpu_per_update", "preview")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per measure (median)")
    parser.add_argument("--json", type=Path, help="also write the rows as JSON here")
    parser.add_argument(
        "--only", choices=MEASURES, action="append", help="run only this measure (repeatable)"
    )
    args = parser.parse_args()
    bench = Bench(args.repeat)
    try:
        print(bench.header(), flush=True)
        for measure in args.only or MEASURES:
            getattr(bench, measure)()
    finally:
        bench.close()
    print()
    print(bench.table())
    if args.json:
        args.json.write_text(json.dumps(bench.rows, indent=2))
    return 0


if __name__ == "__main__":
    threading.current_thread().name = "bench"
    sys.exit(main())
