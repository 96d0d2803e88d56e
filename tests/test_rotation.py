"""Rotating a webhook secret without losing or refusing a delivery (issue 12 item 2).

The documented rotation (docs/secrets.md, "Roll the secret"), one `pulumi up` per step, through
the SDK's provider server as the engine drives it, while events are emitted all along
and a real receiver process (examples/receiver.py) verifies every delivery with the
secrets taken from the stack's outputs after each step:

  1. declare the successor beside the old webhook, Disabled: it exists, delivers nothing;
  2. give receivers both secrets (from the outputs);
  3. enable the successor: both webhooks deliver each event (duplicates, never a refusal);
  4. wait until the old webhook has no failed delivery still waiting for a retry (an
     event sent before step 3 went through the old webhook only, and Dfns does not
     retry a deleted webhook's deliveries), then remove it from the program;
  5. after in-flight deliveries have landed, give receivers the new secret only.

Before step 1 the receiver is down for a while (it answers 503), so events that only
the old webhook delivers fail and wait for Dfns's retries across the rotation.

It needs one free webhook slot (Dfns allows 5). The steps are plain functions over a
`World`, so the offline engine harness can drive the same steps once it exists.
A second test runs the same emitter through an in-place roll (`secret_version`) to show
what the rotation avoids: deliveries refused until receivers learn the new secret.
"""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from pulumi.runtime import rpc

from pulumi_dfns.audit import awaiting_retry
from pulumi_dfns.errors import DfnsApiError
from tests.support.emulator import EmulatorProcess
from tests.support.engine import ProviderServer, plaintext
from tests.test_deliveries import ROOT, free_port

KIND = "wallet.transfer.confirmed"
# Retries on Dfns's schedule (1 min, 12 min, ...) scaled so a failure would be retried
# within the test: a lost delivery cannot hide behind a slow retry.
TIME_SCALE = 0.002
STEP_PAUSE = 1.0  # seconds of emitting between steps
IN_FLIGHT_GRACE = 0.5  # seconds between removing the old webhook and dropping its secret
# The receiver answers 503 this long while only the old webhook delivers: at the time
# scale, an event's 2nd and 3rd attempts (0.12 s and 1.44 s after the 1st) fail too,
# and its 4th comes 14.4 s after the 1st, well after a prompt step 4 would have run.
OUTAGE = 2.0

Program = dict[str, dict[str, Any]]


@dataclass
class Deployed:
    id: str
    outs: dict[str, Any]


@dataclass
class World:
    """A stack (resource name -> deployed webhook), its provider and its receiver."""

    emulator: EmulatorProcess
    engine: ProviderServer
    receiver_url: str
    secrets_file: Path
    unavailable_file: Path
    stack: dict[str, Deployed] = field(default_factory=dict)


# -- the steps: plain functions -----------------------------------------------------------


def up(world: World, program: Program) -> None:
    """`pulumi up`: check, diff, then create/update/replace; deletes at the end, as the
    engine does (replacements are create-before-delete; pulumi-dynamic.md)."""
    doomed: list[Deployed] = []
    for name, inputs in program.items():
        checked = world.engine.check(inputs)
        assert checked.failures == [], checked.failures
        current = world.stack.get(name)
        if current is None:
            world.stack[name] = Deployed(*world.engine.create(checked.inputs))
            continue
        diff = world.engine.diff(current.id, plaintext(current.outs), checked.inputs)
        if diff.replaces:
            world.stack[name] = Deployed(*world.engine.create(checked.inputs))
            doomed.append(current)
        elif diff.changes:
            outs = world.engine.update(current.id, current.outs, checked.inputs)
            world.stack[name] = Deployed(current.id, outs)
    for name in [n for n in world.stack if n not in program]:
        doomed.append(world.stack.pop(name))
    for gone in doomed:
        world.engine.delete(gone.id, gone.outs)


def configure_receiver(world: World) -> list[str]:
    """Give the receiver the secret outputs of every webhook of the stack that delivers
    to it (as `pulumi stack output --show-secrets` would), atomically."""
    secrets = [
        rpc.unwrap_rpc_secret(d.outs["secret"])
        for d in world.stack.values()
        if d.outs.get("url") == world.receiver_url
    ]
    staged = world.secrets_file.with_suffix(".new")
    staged.write_text("\n".join(secrets) + "\n")
    staged.replace(world.secrets_file)
    return secrets


def wait_until_no_retry_is_pending(world: World, name: str, timeout: float) -> tuple[int, float]:
    """The gate of step 4: poll the webhook's events (`GET /webhooks/{id}/events`) until
    none of its failed deliveries waits for a retry. Answers how many waited at first
    and how long the wait took."""
    client = world.emulator.client()
    webhook_id = world.stack[name].id
    began = time.monotonic()
    first = len(awaiting_retry(client, webhook_id))
    while awaiting_retry(client, webhook_id):
        assert time.monotonic() - began < timeout, "retries still pending"
        time.sleep(0.2)
    return first, time.monotonic() - began


def webhook(status: str = "Enabled", **extra: Any) -> dict[str, Any]:
    return {"events": [KIND], "status": status, **extra}


# -- what runs alongside: events and a receiver -------------------------------------------


class Emitter(threading.Thread):
    """Emits one event every few milliseconds; remembers each delivery's first-attempt id."""

    def __init__(self, emulator: EmulatorProcess) -> None:
        super().__init__(daemon=True)
        self.emulator = emulator
        self.first_ids: dict[str, int] = {}  # first-attempt event id -> sequence number
        self.emitted = 0
        self.unrouted = 0  # emitted while no webhook was subscribed (must stay 0)
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            seq = self.emitted
            answer = self.emulator.control(
                "POST", "events", {"kind": KIND, "data": {"seq": seq}, "timeScale": TIME_SCALE}
            )
            self.emitted += 1
            if not answer["deliveries"]:
                self.unrouted += 1
            for delivery in answer["deliveries"]:
                self.first_ids[delivery["eventId"]] = seq
            time.sleep(0.01)

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=30)


class Receiver:
    def __init__(self, port: int, secrets_file: Path, unavailable_file: Path) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("DFNS_WEBHOOK_SECRET")}
        self.proc = subprocess.Popen(
            [
                sys.executable,
                str(ROOT / "examples" / "receiver.py"),
                "--port",
                str(port),
                "--secrets-file",
                str(secrets_file),
                "--unavailable-file",
                str(unavailable_file),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        assert self.proc.stdout is not None
        assert "receiver ready" in self.proc.stdout.readline()
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.strip())

    def drain(self) -> list[str]:
        out = []
        while True:
            try:
                out.append(self.lines.get_nowait())
            except queue.Empty:
                return out

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


@dataclass
class Figures:
    emitted: int
    accepted_events: int  # distinct emitted events accepted at least once
    accepted_deliveries: int
    duplicates: int  # accepted deliveries beyond the first per event
    refused: int
    unavailable: int  # deliveries answered 503 during the receiver's outage
    missing: list[int]

    def line(self, name: str) -> str:
        return (
            f"{name}: events emitted {self.emitted}, accepted {self.accepted_events}, "
            f"deliveries accepted {self.accepted_deliveries}, duplicates {self.duplicates}, "
            f"refused {self.refused}, answered 503 {self.unavailable}, "
            f"lost {len(self.missing)}"
        )


def tally(emitter: Emitter, lines: list[str]) -> Figures:
    """Deliveries matched to emitted events by id, and by `retryOf` for retries."""
    per_event: dict[int, int] = {}
    refused = unavailable = 0
    for line in lines:
        words = line.split()
        if words[:2] == ["accepted", KIND]:
            event_id = words[2]
            first = words[words.index("retryOf") + 1] if "retryOf" in words else event_id
            seq = emitter.first_ids[first]
            per_event[seq] = per_event.get(seq, 0) + 1
        elif line.startswith("refused"):
            refused += 1
        elif line.startswith("unavailable"):
            unavailable += 1
    accepted = sum(per_event.values())
    return Figures(
        emitted=emitter.emitted,
        accepted_events=len(per_event),
        accepted_deliveries=accepted,
        duplicates=accepted - len(per_event),
        refused=refused,
        unavailable=unavailable,
        missing=[seq for seq in range(emitter.emitted) if seq not in per_event],
    )


def settle(world: World, emitter: Emitter, receiver: Receiver) -> list[str]:
    """Stop emitting; wait until every emitted event has been accepted or retries ran out."""
    emitter.stop()
    lines: list[str] = []
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline:
        lines += receiver.drain()
        if not tally(emitter, lines).missing:
            break
        time.sleep(0.1)
    time.sleep(0.3)  # late duplicates and retries still count
    return lines + receiver.drain()


def start(emulator: EmulatorProcess, tmp_path: Path) -> tuple[World, ProviderServer, Receiver]:
    port = free_port()
    secrets_file = tmp_path / "receiver-secrets"
    secrets_file.write_text("")
    unavailable_file = tmp_path / "receiver-down"
    engine = ProviderServer()
    engine.configure(emulator.config())
    receiver = Receiver(port, secrets_file, unavailable_file)
    url = f"http://127.0.0.1:{port}/dfns"
    world = World(emulator, engine, url, secrets_file, unavailable_file)
    return world, engine, receiver


# -- the proofs ----------------------------------------------------------------------------


@pytest.mark.long
def test_the_documented_rotation_loses_and_refuses_nothing(
    start_emulator: Callable[..., EmulatorProcess], tmp_path: Path
) -> None:
    # An organisation with room for exactly one more webhook: the rotation needs no more.
    emulator = start_emulator("--max-webhooks", "2")
    world, engine, receiver = start(emulator, tmp_path)
    url = world.receiver_url
    emitter = Emitter(emulator)
    try:
        up(world, {"payments-v1": webhook(url=url)})
        assert len(configure_receiver(world)) == 1
        emitter.start()
        time.sleep(STEP_PAUSE)
        # The receiver is down for a while: events delivered by the old webhook alone fail.
        world.unavailable_file.write_text("")
        time.sleep(OUTAGE)
        world.unavailable_file.unlink()
        time.sleep(STEP_PAUSE)
        # 1. the successor beside the old one, Disabled
        up(world, {"payments-v1": webhook(url=url), "payments-v2": webhook("Disabled", url=url)})
        with pytest.raises(DfnsApiError, match="limit"):  # the organisation is now full
            emulator.client().create_webhook("https://other.example/dfns", [KIND])
        time.sleep(STEP_PAUSE)
        # 2. receivers learn both secrets
        assert len(configure_receiver(world)) == 2
        time.sleep(STEP_PAUSE)
        # 3. the successor delivers too
        up(world, {"payments-v1": webhook(url=url), "payments-v2": webhook(url=url)})
        time.sleep(STEP_PAUSE)
        # 4. once no failed delivery of the old webhook waits for a retry, it goes
        waited_for, wait = wait_until_no_retry_is_pending(world, "payments-v1", timeout=60)
        up(world, {"payments-v2": webhook(url=url)})
        time.sleep(IN_FLIGHT_GRACE)
        # 5. receivers forget the old secret
        assert len(configure_receiver(world)) == 1
        time.sleep(STEP_PAUSE)
        lines = settle(world, emitter, receiver)
        figures = tally(emitter, lines)
        print("\n" + figures.line("documented rotation"))
        print(f"step 4 waited {wait:.1f} s for {waited_for} deliveries awaiting a retry")
        assert figures.emitted >= 100 and emitter.unrouted == 0
        # The outage really left deliveries of the old webhook alone waiting for retries
        # when step 4 would otherwise have run.
        assert figures.unavailable > 0 and waited_for > 0
        assert figures.missing == []
        assert figures.refused == 0
        assert figures.duplicates > 0  # step 3 really had both webhooks delivering
        # Dfns holds only the successor, and recorded no failed delivery for it.
        [live] = emulator.webhooks()
        assert live["id"] == world.stack["payments-v2"].id
        assert emulator.client().list_webhook_events(live["id"], delivery_failed=True) == []
    finally:
        emitter.stop()
        receiver.stop()
        engine.close()


@pytest.mark.long
def test_an_in_place_roll_refuses_deliveries_the_rotation_would_not(
    emulator: EmulatorProcess, tmp_path: Path
) -> None:
    """The contrast: `secret_version` replaces the webhook in one `up` (create the new
    one, delete the old at the end). Until receivers learn the new secret, its
    deliveries are refused (Dfns retries them later, so here nothing is lost, only
    refused and delayed; a receiver updated first would refuse the old one's instead).
    Both halves are checked: some deliveries refused, every event accepted in the end."""
    world, engine, receiver = start(emulator, tmp_path)
    url = world.receiver_url
    emitter = Emitter(emulator)
    try:
        up(world, {"payments": webhook(url=url, secret_version="1")})
        configure_receiver(world)
        emitter.start()
        time.sleep(STEP_PAUSE)
        up(world, {"payments": webhook(url=url, secret_version="2")})
        time.sleep(STEP_PAUSE)  # a deployment's tail: receivers not yet reconfigured
        configure_receiver(world)
        time.sleep(STEP_PAUSE)
        figures = tally(emitter, settle(world, emitter, receiver))
        print("\n" + figures.line("in-place roll"))
        assert figures.refused > 0
        assert figures.emitted > 0 and figures.missing == []  # refused, then retried
        assert figures.accepted_events == figures.emitted
    finally:
        emitter.stop()
        receiver.stop()
        engine.close()
