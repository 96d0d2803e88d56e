"""The `/_emulator/` test facilities: request log, latency and fault injection.

Real Dfns has no `/_emulator/` prefix, so none of this can be mistaken for its API.
"""

from __future__ import annotations

import fnmatch
import random
import threading
from dataclasses import asdict, dataclass
from typing import Any

from .errors import ApiFailure

FAULT_ACTIONS = ("status", "delay", "drop", "drop_after", "malformed")


@dataclass
class Fault:
    """What to do to the next `times` requests matching method and path (a glob).

    - status: answer `status` (with Retry-After when `retry_after` is set) without acting;
      202 answers as a policy holding the change for approval. `message` replaces the
      error's message and `headers` are added to the answer: the words and rate-limit
      headers (an HTTP-date Retry-After, X-RateLimit-Reset) a test needs Dfns to send.
    - delay: wait `delay` seconds, then act and answer normally.
    - drop: close the connection before acting.
    - drop_after: act, then close the connection without answering.
    - malformed: act, then answer 200 with a body that is not JSON.
    """

    method: str
    path: str
    action: str
    status: int = 500
    retry_after: float | None = None
    delay: float = 0.0
    times: int = 1
    message: str | None = None
    headers: dict[str, str] | None = None

    def matches(self, method: str, path: str) -> bool:
        return self.method in ("*", method) and fnmatch.fnmatchcase(path, self.path)


def parse_fault(body: Any) -> Fault:
    if not isinstance(body, dict):
        raise ApiFailure(400, "fault: body must be a JSON object")
    known = {"method", "path", "action", "status", "retryAfter", "delay", "times"}
    known |= {"message", "headers"}
    unknown = sorted(set(body) - known)
    if unknown:
        raise ApiFailure(400, f"fault: unrecognized key(s): {', '.join(unknown)}")
    action = body.get("action")
    if action not in FAULT_ACTIONS:
        raise ApiFailure(400, f"fault.action: expected one of {', '.join(FAULT_ACTIONS)}")
    try:
        fault = Fault(
            method=str(body.get("method", "*")).upper(),
            path=str(body.get("path", "*")),
            action=action,
            status=int(body.get("status", 500)),
            retry_after=None if body.get("retryAfter") is None else float(body["retryAfter"]),
            delay=float(body.get("delay", 0)),
            times=int(body.get("times", 1)),
        )
    except (TypeError, ValueError):
        raise ApiFailure(400, "fault: status, retryAfter, delay and times are numbers") from None
    if fault.times < 1:
        raise ApiFailure(400, "fault.times: at least 1")
    message, headers = body.get("message"), body.get("headers")
    if message is not None and not isinstance(message, str):
        raise ApiFailure(400, "fault.message: a string")
    if headers is not None and not (
        isinstance(headers, dict) and all(isinstance(v, str) for v in headers.values())
    ):
        raise ApiFailure(400, "fault.headers: an object of strings")
    fault.message, fault.headers = message, headers
    return fault


@dataclass
class Chaos:
    """Fault a share of all API requests at random (seeded, so a run repeats)."""

    rate: float
    faults: list[Fault]
    rng: random.Random
    seen: int = 0
    faulted: int = 0

    def draw(self) -> Fault | None:
        self.seen += 1
        if self.rng.random() >= self.rate:
            return None
        self.faulted += 1
        return self.rng.choice(self.faults)


def parse_chaos(body: Any) -> Chaos:
    if not isinstance(body, dict):
        raise ApiFailure(400, "chaos: body must be a JSON object")
    rate = body.get("rate")
    if not isinstance(rate, int | float) or not 0 <= rate <= 1:
        raise ApiFailure(400, "chaos.rate: a number from 0 to 1")
    faults = body.get("faults")
    if not isinstance(faults, list) or not faults:
        raise ApiFailure(400, "chaos.faults: a non-empty list of faults")
    parsed = [parse_fault({**f, "method": "*", "path": "*"}) for f in faults]
    return Chaos(float(rate), parsed, random.Random(body.get("seed", 0)))


class TestKit:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self.chaos: Chaos | None = None
        self._log: list[dict[str, Any]] = []
        # Bumped by clear_log: a request records only into the log it arrived in.
        self._log_generation = 0
        self.latency = 0.0
        self.connections_opened = 0

    def connection_opened(self) -> None:
        with self._lock:
            self.connections_opened += 1

    def add_fault(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def faults(self) -> list[dict[str, Any]]:
        with self._lock:
            return [asdict(f) for f in self._faults]

    def take_fault(self, method: str, path: str) -> Fault | None:
        """The first armed fault for this request, spending one of its uses; else chaos."""
        with self._lock:
            for fault in self._faults:
                if fault.matches(method, path):
                    fault.times -= 1
                    if fault.times == 0:
                        self._faults.remove(fault)
                    return fault
            return self.chaos.draw() if self.chaos is not None else None

    def set_chaos(self, chaos: Chaos | None) -> None:
        with self._lock:
            self.chaos = chaos

    def chaos_stats(self) -> dict[str, Any]:
        with self._lock:
            if self.chaos is None:
                return {"rate": 0, "seen": 0, "faulted": 0}
            return {"rate": self.chaos.rate, "seen": self.chaos.seen, "faulted": self.chaos.faulted}

    def arrived(self) -> int:
        """The log's generation when a request arrives; hand it to `record`."""
        with self._lock:
            return self._log_generation

    def record(self, entry: dict[str, Any], generation: int) -> None:
        """Log a request when it is answered, unless the log was cleared since it
        arrived: a request held by a delay fault must not land in the log of whatever
        a test does after clearing it (the log reads as "arrived after the clear")."""
        with self._lock:
            if generation != self._log_generation:
                return
            entry["seq"] = len(self._log) + 1
            self._log.append(entry)

    def log(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._log)

    def clear_log(self) -> None:
        with self._lock:
            self._log.clear()
            self._log_generation += 1
