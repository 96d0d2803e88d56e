"""Two stacks, one organisation, one receiver url, 20% of requests faulted, at once.

Each "stack" is its own provider server (as two `pulumi up`s would start) holding two
DfnsWebhook slots. Both stacks point every webhook at the same receiver url and pick
events and descriptions from small sets; in about half of the rounds both draw their
new webhooks from one shared program, so identical webhooks created at the same
moment by both stacks (the case that once made create recovery delete the other
stack's webhook) are common. The stacks run concurrently: each round, both stacks
start one engine operation at the same moment, on two threads (as blue/green stacks
applied together). The state changes exactly as the engine would change it: a failed
operation changes nothing, a replaced webhook whose delete failed stays for the next
run.

Between rounds the soak acts as the user reading the errors and warnings: a webhook
named by a failed create or a warning ("none was touched ... adopt it ... or delete
it in Dfns") that no stack's state holds is deleted in Dfns, as the message says.

Measured: operations that succeeded or failed, duplicates (a webhook no state holds
with the fields of one a state holds), orphans (any webhook no state holds) and silent
orphans (one that no error or warning named), foreign deletions (a DELETE of a webhook
a stack held, sent by anyone but that stack), unasked deletions (a DELETE no stack and
no user asked for: recovery deleting on its own), and webhooks a state held that were
gone before the final refresh (stale state, which `pulumi refresh` mends).
"""

from __future__ import annotations

import random
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pulumi_dfns.errors import DfnsError, DfnsNotFoundError
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
SHARED_ROUNDS = 0.5  # share of rounds in which both stacks draw from one program
WEBHOOK_ID = re.compile(r"\bwh-[a-z0-9]+-[a-z0-9]+-[a-z0-9]+\b")


@dataclass
class Held:
    id: str
    outs: dict[str, Any]
    program: dict[str, Any]


@dataclass
class Stack:
    name: str
    engine: ProviderServer
    rng: random.Random
    slots: dict[int, Held] = field(default_factory=dict)
    pending_deletes: list[Held] = field(default_factory=list)
    rolls: int = 0
    ever_held: set[str] = field(default_factory=set)
    asked_deletes: set[str] = field(default_factory=set)
    printed: int = 0  # how much of the provider's output was read

    def owned(self) -> set[str]:
        return {h.id for h in self.slots.values()} | {h.id for h in self.pending_deletes}

    def hold(self, slot: int, held: Held) -> None:
        self.slots[slot] = held
        self.ever_held.add(held.id)

    def delete(self, held: Held) -> None:
        self.asked_deletes.add(held.id)
        self.engine.delete(held.id, plaintext(held.outs))

    def new_warnings(self) -> list[str]:
        output = self.engine.output()
        fresh, self.printed = output[self.printed :], len(output)
        return [line for line in fresh.splitlines() if "warning: DfnsWebhook" in line]


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
    silent_orphans: list[str]
    named: list[str]
    user_deleted: list[str]
    creates_naming_candidates: int
    foreign_deletions: list[str]
    unasked_deletions: list[str]
    stale_before_refresh: list[str]
    clock_warnings: int
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
            "silent_orphans": len(self.silent_orphans),
            "creates_naming_candidates": self.creates_naming_candidates,
            "webhooks_named_in_errors_or_warnings": len(self.named),
            "named_then_deleted_by_the_user": len(self.user_deleted),
            "foreign_deletions": len(self.foreign_deletions),
            "unasked_deletions": len(self.unasked_deletions),
            "stale_before_refresh": len(self.stale_before_refresh),
            "clock_check_failed_warnings": self.clock_warnings,
            "seconds": round(self.seconds, 1),
        }


def random_program(rng: random.Random) -> dict[str, Any]:
    program: dict[str, Any] = {"url": RECEIVER, "events": rng.choice(EVENTS)}
    description = rng.choice(DESCRIPTIONS)
    if description is not None:
        program["description"] = description
    program["status"] = rng.choice(["Enabled", "Enabled", "Disabled"])
    return program


def step(stack: Stack, shared: dict[str, Any] | None) -> str:
    """One engine operation on one slot of `stack`; raises EngineError when it fails."""
    engine, rng = stack.engine, stack.rng
    slot = rng.randrange(SLOTS)
    held = stack.slots.get(slot)
    if held is None:
        program = dict(shared) if shared is not None else random_program(rng)
        webhook_id, outs = engine.create(engine.check(program).inputs)
        stack.hold(slot, Held(webhook_id, outs, program))
        return "create"
    kind = rng.choices(["update", "roll", "refresh", "delete"], [40, 20, 25, 15])[0]
    olds = plaintext(held.outs)
    if kind == "update":
        fresh = dict(shared) if shared is not None else random_program(rng)
        program = {**fresh, "secret_version": held.program.get("secret_version")}
        program = {k: v for k, v in program.items() if v is not None}
        news = engine.check(program).inputs
        if engine.diff(held.id, olds, news).changes:
            held.outs = engine.update(held.id, olds, news)
        held.program = program
    elif kind == "roll":
        stack.rolls += 1
        # The same secret_version in both stacks: an identical replacement in both.
        program = {**held.program, "secret_version": f"v{stack.rolls}"}
        news = engine.check(program).inputs
        assert engine.diff(held.id, olds, news).replaces == ["secret_version"]
        new_id, new_outs = engine.create(news)  # create-before-delete, as the engine
        stack.hold(slot, Held(new_id, new_outs, program))
        try:
            stack.delete(held)
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
        stack.delete(held)
        del stack.slots[slot]
    return kind


def retry_pending_deletes(stack: Stack) -> None:
    for held in list(stack.pending_deletes):
        try:
            stack.delete(held)
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


class User:
    """What the person reading the errors and warnings does: a webhook they name that
    no stack's state holds is deleted in Dfns (the message's "delete it in Dfns")."""

    def __init__(self, emulator: EmulatorProcess, stacks: list[Stack]) -> None:
        self.client = emulator.client()
        self.stacks = stacks
        self.named: set[str] = set()
        self.to_clean: set[str] = set()
        self.deleted: set[str] = set()
        self.asked: set[str] = set()  # every id the user sent a DELETE for

    def read(self, text: str) -> None:
        ids = set(WEBHOOK_ID.findall(text))
        self.named |= ids
        self.to_clean |= ids

    def act(self) -> None:
        held = set().union(*(s.owned() for s in self.stacks))
        for webhook_id in sorted(self.to_clean):
            if webhook_id in held:
                self.to_clean.discard(webhook_id)  # a stack holds it: leave it
                continue
            if self._delete(webhook_id):
                self.to_clean.discard(webhook_id)

    def _delete(self, webhook_id: str) -> bool:
        self.asked.add(webhook_id)
        for _ in range(5):  # the user retries by hand through the faults
            try:
                self.client.delete_webhook(webhook_id)
                self.deleted.add(webhook_id)
                return True
            except DfnsNotFoundError:
                try:
                    self.client.get_webhook(webhook_id)
                except DfnsNotFoundError:
                    self.deleted.add(webhook_id)  # an earlier try acted
                    return True
                except DfnsError:
                    pass
            except DfnsError:
                pass
        return False


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
    stacks = [
        Stack("blue", ProviderServer(), random.Random(f"{seed}-blue")),
        Stack("green", ProviderServer(), random.Random(f"{seed}-green")),
    ]
    user = User(emulator, stacks)
    by_kind: dict[str, int] = {}
    failures: list[str] = []
    naming = 0
    ok = 0
    output = ""
    try:
        for stack in stacks:
            stack.engine.configure(config)
        emulator.clear_log()
        emulator.control(
            "POST", "chaos", {"rate": FAULT_RATE, "seed": seed, "faults": CHAOS_FAULTS}
        )
        for _round in range(operations // len(stacks)):
            shared = random_program(rng) if rng.random() < SHARED_ROUNDS else None
            outcomes: dict[str, str | EngineError] = {}
            start = threading.Barrier(len(stacks))

            def operate(
                stack: Stack,
                shared: dict[str, Any] | None = shared,
                outcomes: dict[str, str | EngineError] = outcomes,
                start: threading.Barrier = start,
            ) -> None:
                retry_pending_deletes(stack)
                start.wait()
                try:
                    outcomes[stack.name] = step(stack, shared)
                except EngineError as exc:
                    outcomes[stack.name] = exc

            threads = [threading.Thread(target=operate, args=(s,)) for s in stacks]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            for stack in stacks:
                outcome = outcomes[stack.name]
                if isinstance(outcome, EngineError):
                    by_kind["failed"] = by_kind.get("failed", 0) + 1
                    failures.append(outcome.details)
                    if "none was touched" in outcome.details:
                        naming += 1
                    user.read(outcome.details)
                else:
                    ok += 1
                    by_kind[outcome] = by_kind.get(outcome, 0) + 1
                for warning in stack.new_warnings():
                    user.read(warning)
            user.act()
        time.sleep(READ_TIMEOUT * 2)  # let delayed requests land
        for stack in stacks:
            for warning in stack.new_warnings():
                user.read(warning)
        chaos = emulator.control("DELETE", "chaos")
        held_at_end = set().union(*(s.owned() for s in stacks))
        live_before = {w["id"]: w for w in emulator.webhooks()}
        orphans_before = sorted(set(live_before) - held_at_end)
        silent = sorted(set(orphans_before) - user.named)
        # What the user does after failed runs: clean up what the messages named,
        # `pulumi up` (the pending deletes) and `pulumi refresh`, run as the engine would.
        user.act()
        for stack in stacks:
            retry_pending_deletes(stack)
            for slot, held in list(stack.slots.items()):
                read_id, read_outs, _ = stack.engine.read(held.id, plaintext(held.outs))
                if read_id:
                    held.outs = read_outs
                else:
                    del stack.slots[slot]
        log = emulator.requests_log()
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
    deleted = {
        entry["path"].rsplit("/", 1)[1]
        for entry in log
        if entry["method"] == "DELETE" and entry["path"].startswith("/webhooks/")
    }
    asked = set().union(*(s.asked_deletes for s in stacks)) | user.asked
    foreign = sorted(
        target
        for target in deleted
        for stack in stacks
        if target in stack.ever_held and target not in stack.asked_deletes
    )
    # Held but gone before the final refresh: an own delete that acted, then failed.
    stale = sorted(held_at_end - set(live_before))
    return Result(
        operations=operations // len(stacks) * len(stacks),
        ok=ok,
        failed=len(failures),
        by_kind=by_kind,
        requests_seen=int(chaos["seen"]),
        requests_faulted=int(chaos["faulted"]),
        duplicates=duplicates,
        orphans=orphans,
        orphans_before_refresh=orphans_before,
        silent_orphans=silent,
        named=sorted(user.named),
        user_deleted=sorted(user.deleted),
        creates_naming_candidates=naming,
        foreign_deletions=foreign,
        unasked_deletions=sorted(deleted - asked),
        stale_before_refresh=stale,
        clock_warnings=output.count("no longer tells webhooks apart by time"),
        failures=failures,
        seconds=time.monotonic() - started,
        engine_output=output,
    )
