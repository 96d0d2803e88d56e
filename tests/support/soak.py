"""Two stacks, one organisation, one receiver url, 20% of requests faulted.

Each "stack" is its own provider server (as two `pulumi up`s would start) holding two
DfnsWebhook slots. Both stacks point every webhook at the same receiver url and pick
events and descriptions from small sets, so look-alikes across stacks (the case that
once made create recovery delete another stack's webhook) are common. The stacks take
turns, one engine operation at a time (as blue/green stacks applied one after the
other). The state changes exactly as the engine would change it: a failed operation
changes nothing, a replaced webhook whose delete failed stays for the next run.

Measured: operations that succeeded or failed, duplicates (a webhook no state holds
with the fields of one a state holds), orphans (any webhook no state holds), foreign
deletions (a DELETE sent during one stack's operation for a webhook the other stack
holds), and webhooks a state held that were gone before the final refresh (an own
delete that acted and then failed: stale state, which `pulumi refresh` mends).
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.emulator import EmulatorProcess
from tests.support.engine import EngineError, ProviderServer, plaintext

RECEIVER = "https://receiver.example/shared"
FAULT_RATE = 0.2
READ_TIMEOUT = 0.5
CHAOS_FAULTS: list[dict[str, Any]] = [
    {"action": "status", "status": 429, "retryAfter": 0.1},
    {"action": "status", "status": 500},
    {"action": "status", "status": 502},
    {"action": "status", "status": 503},
    {"action": "status", "status": 504},
    {"action": "drop"},
    {"action": "drop_after"},
    {"action": "malformed"},
    {"action": "delay", "delay": READ_TIMEOUT * 1.5},
    {"action": "status", "status": 401},
    {"action": "status", "status": 403},
    {"action": "status", "status": 404},
    {"action": "status", "status": 202},
]
EVENTS = [["*"], ["wallet.created"], ["key.created", "key.deleted"]]
DESCRIPTIONS = [None, "payments"]
SLOTS = 2


@dataclass
class Held:
    id: str
    outs: dict[str, Any]
    program: dict[str, Any]


@dataclass
class Stack:
    name: str
    engine: ProviderServer
    slots: dict[int, Held] = field(default_factory=dict)
    pending_deletes: list[Held] = field(default_factory=list)
    rolls: int = 0

    def owned(self) -> set[str]:
        return {h.id for h in self.slots.values()} | {h.id for h in self.pending_deletes}


@dataclass
class Result:
    operations: int
    ok: int
    failed: int
    by_kind: dict[str, int]
    requests_seen: int
    requests_faulted: int
    duplicates: int
    orphans: list[str]
    orphans_before_refresh: list[str]
    foreign_deletions: list[str]
    stale_before_refresh: list[str]
    failures: list[str]
    seconds: float
    engine_output: str = ""

    def summary(self) -> dict[str, Any]:
        return {
            "operations": self.operations,
            "ok": self.ok,
            "failed": self.failed,
            "by_kind": self.by_kind,
            "requests_seen": self.requests_seen,
            "requests_faulted": self.requests_faulted,
            "fault_share": round(self.requests_faulted / max(1, self.requests_seen), 3),
            "duplicates": self.duplicates,
            "orphans": len(self.orphans),
            "orphans_before_refresh": len(self.orphans_before_refresh),
            "foreign_deletions": len(self.foreign_deletions),
            "stale_before_refresh": len(self.stale_before_refresh),
            "seconds": round(self.seconds, 1),
        }


def random_program(rng: random.Random) -> dict[str, Any]:
    program: dict[str, Any] = {"url": RECEIVER, "events": rng.choice(EVENTS)}
    description = rng.choice(DESCRIPTIONS)
    if description is not None:
        program["description"] = description
    program["status"] = rng.choice(["Enabled", "Enabled", "Disabled"])
    return program


def step(stack: Stack, rng: random.Random) -> str:
    """One engine operation on one slot of `stack`; raises EngineError when it fails."""
    engine = stack.engine
    slot = rng.randrange(SLOTS)
    held = stack.slots.get(slot)
    if held is None:
        program = random_program(rng)
        webhook_id, outs = engine.create(engine.check(program).inputs)
        stack.slots[slot] = Held(webhook_id, outs, program)
        return "create"
    kind = rng.choices(["update", "roll", "refresh", "delete"], [45, 15, 25, 15])[0]
    olds = plaintext(held.outs)
    if kind == "update":
        program = {**random_program(rng), "secret_version": held.program.get("secret_version")}
        program = {k: v for k, v in program.items() if v is not None}
        news = engine.check(program).inputs
        if engine.diff(held.id, olds, news).changes:
            held.outs = engine.update(held.id, olds, news)
        held.program = program
    elif kind == "roll":
        stack.rolls += 1
        program = {**held.program, "secret_version": f"{stack.name}-{stack.rolls}"}
        news = engine.check(program).inputs
        assert engine.diff(held.id, olds, news).replaces == ["secret_version"]
        new_id, new_outs = engine.create(news)  # create-before-delete, as the engine
        stack.slots[slot] = Held(new_id, new_outs, program)
        try:
            engine.delete(held.id, olds)
        except EngineError:
            stack.pending_deletes.append(held)  # the engine retries it at the next run
            raise
    elif kind == "refresh":
        read_id, read_outs, _ = engine.read(held.id, olds)
        if read_id:
            held.outs = read_outs
        else:
            del stack.slots[slot]
    else:
        engine.delete(held.id, olds)
        del stack.slots[slot]
    return kind


def retry_pending_deletes(stack: Stack) -> None:
    for held in list(stack.pending_deletes):
        try:
            stack.engine.delete(held.id, plaintext(held.outs))
            stack.pending_deletes.remove(held)
        except EngineError:
            pass


def same_fields(webhook: dict[str, Any], held: Held) -> bool:
    program = held.program
    return (
        webhook["url"] == program["url"]
        and sorted(webhook["events"]) == sorted(program["events"])
        and (webhook.get("description") or None) == program.get("description")
        and webhook["status"] == program.get("status", "Enabled")
    )


def run(data_dir: Path, operations: int, seed: int) -> Result:
    """Run the soak; the emulator keeps Dfns's default limit of 5 webhooks."""
    rng = random.Random(seed)
    started = time.monotonic()
    emulator = EmulatorProcess(data_dir, "--rate-limit", "1000000").start()
    config = {
        **emulator.config(),
        "dfns:readTimeout": str(READ_TIMEOUT),
        "dfns:retryTimeout": "20",
    }
    stacks = [Stack("blue", ProviderServer()), Stack("green", ProviderServer())]
    windows: list[tuple[float, float, int, set[str]]] = []  # start, end, stack, others' ids
    by_kind: dict[str, int] = {}
    failures: list[str] = []
    ok = 0
    output = ""
    try:
        for stack in stacks:
            stack.engine.configure(config)
        emulator.clear_log()
        emulator.control(
            "POST", "chaos", {"rate": FAULT_RATE, "seed": seed, "faults": CHAOS_FAULTS}
        )
        for number in range(operations):
            index = number % 2 if rng.random() < 0.8 else rng.randrange(2)
            stack, other = stacks[index], stacks[1 - index]
            retry_pending_deletes(stack)
            began = time.time()
            try:
                kind = step(stack, rng)
                ok += 1
            except EngineError as exc:
                kind = "failed"
                failures.append(exc.details)
            windows.append((began, time.time(), index, other.owned()))
            by_kind[kind] = by_kind.get(kind, 0) + 1
        time.sleep(READ_TIMEOUT * 2)  # let delayed requests land
        chaos = emulator.control("DELETE", "chaos")
        log = emulator.requests_log()
        held_at_end = set().union(*(s.owned() for s in stacks))
        live_before = {w["id"]: w for w in emulator.webhooks()}
        orphans_before = sorted(set(live_before) - held_at_end)
        # What the user does after failed runs: `pulumi up` (the pending deletes) and
        # `pulumi refresh`, run here as the engine would.
        for stack in stacks:
            retry_pending_deletes(stack)
            for slot, held in list(stack.slots.items()):
                read_id, read_outs, _ = stack.engine.read(held.id, plaintext(held.outs))
                if read_id:
                    held.outs = read_outs
                else:
                    del stack.slots[slot]
    finally:
        for stack in stacks:
            output += stack.engine.output()
            stack.engine.close()
    try:
        live = {w["id"]: w for w in emulator.webhooks()}
    finally:
        emulator.stop()
    held_now = [h for s in stacks for h in s.slots.values()]
    orphans = sorted(
        set(live) - {h.id for h in held_now} - {h.id for s in stacks for h in s.pending_deletes}
    )
    duplicates = sum(1 for o in orphans if any(same_fields(live[o], h) for h in held_now))
    foreign: list[str] = []
    for entry in log:
        if entry["method"] != "DELETE" or not entry["path"].startswith("/webhooks/"):
            continue
        target = entry["path"].rsplit("/", 1)[1]
        for began, ended, _index, others in windows:
            if began <= entry["time"] <= ended and target in others:
                foreign.append(target)
    # Held but gone before the final refresh: an own delete that acted, then failed.
    stale = sorted(held_at_end - set(live_before))
    return Result(
        operations=operations,
        ok=ok,
        failed=len(failures),
        by_kind=by_kind,
        requests_seen=int(chaos["seen"]),
        requests_faulted=int(chaos["faulted"]),
        duplicates=duplicates,
        orphans=orphans,
        orphans_before_refresh=orphans_before,
        foreign_deletions=foreign,
        stale_before_refresh=stale,
        failures=failures,
        seconds=time.monotonic() - started,
        engine_output=output,
    )
