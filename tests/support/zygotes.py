"""The client side of tests/support/zygote.py: one warm process per role, per pytest
process, and the children it forks (processes the test does not parent)."""

from __future__ import annotations

import atexit
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import ClassVar

ROOT = Path(__file__).resolve().parent.parent.parent
# PULUMI_DFNS_TEST_FORK=0: start every emulator and provider server as its own command.
FORK = os.environ.get("PULUMI_DFNS_TEST_FORK", "1") != "0"


class ZygoteFailed(RuntimeError):
    pass


class Zygote:
    """`python [-u] -m tests.support.zygote SOCKET ROLE` as a process."""

    _current: ClassVar[dict[str, Zygote]] = {}

    def __init__(self, role: str) -> None:
        self.role = role
        self.path = os.path.join(tempfile.mkdtemp(prefix=f"dfns-zygote-{role}-"), "sock")
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), *sys.path])}
        # The provider server runs under `python -u` (the engine's command line).
        unbuffered = ["-u"] if role == "provider" else []
        self.proc = subprocess.Popen(
            [sys.executable, *unbuffered, "-m", "tests.support.zygote", self.path, role],
            stdin=subprocess.DEVNULL,  # an xdist worker's stdin is its channel
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert self.proc.stdout is not None
        if self.proc.stdout.readline().strip() != "zygote ready":
            raise ZygoteFailed(f"the {role} zygote did not start (exit {self.proc.wait()})")
        atexit.register(self.close)

    @classmethod
    def get(cls, role: str = "emulator") -> Zygote:
        current = cls._current.get(role)
        if current is None or current.proc.poll() is not None:
            current = cls._current[role] = cls(role)
        return current

    def connect(self, line: str, fds: list[int] | None = None) -> socket.socket:
        """Ask for a child; the connection it answers on (`pid N` first)."""
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        conn.connect(self.path)
        data = (line + "\n").encode()
        if fds:
            socket.send_fds(conn, [data], fds)
        else:
            conn.sendall(data)
        return conn

    def provider(self, env: dict[str, str]) -> tuple[int, int, int]:
        """Fork a provider server with this environment: its pid and the read ends of
        its stdout and stderr."""
        out_read, out_write = os.pipe()
        err_read, err_write = os.pipe()
        try:
            with self.connect(json.dumps({"env": env}), [out_write, err_write]) as conn:
                answer = conn.makefile("r", encoding="utf-8").readline()
        finally:
            os.close(out_write)
            os.close(err_write)
        if not answer.startswith("pid "):
            os.close(out_read)
            os.close(err_read)
            raise ZygoteFailed(f"the provider zygote answered {answer!r}")
        return int(answer.split()[1]), out_read, err_read

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def stop(pid: int, within: float = 10.0) -> None:
    """SIGTERM a forked child, then SIGKILL if it outlives `within` seconds."""
    if gone(pid):
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + within
    while not gone(pid) and time.monotonic() < deadline:
        time.sleep(0.005)
    if not gone(pid):
        os.kill(pid, signal.SIGKILL)
