"""The client side of tests/support/zygote.py: one warm process per role, per pytest
process, and the children it forks (processes the test does not parent)."""

from __future__ import annotations

import atexit
import json
import os
import shutil
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
# Variables an interpreter reads when it starts, or a module when imported: locale and
# encodings, the time zone (time.timezone), the interpreter's own, protobuf's backend
# (google/protobuf/internal/api_implementation.py), gRPC's (read when cygrpc loads).
START_VARIABLES = ("PYTHON", "LANG", "LC_", "TZ", "PROTOCOL_BUFFERS_", "GRPC_")


class ZygoteFailed(RuntimeError):
    pass


class Zygote:
    """`python [-u] -m tests.support.zygote SOCKET ROLE` as a process."""

    _current: ClassVar[dict[str, Zygote]] = {}

    def __init__(self, role: str) -> None:
        self.role = role
        self.directory = tempfile.mkdtemp(prefix=f"dfns-zygote-{role}-")
        self.path = os.path.join(self.directory, "sock")
        # The environment the zygote's imports saw (see `same_start`).
        self.started_env = dict(os.environ)
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

    def same_start(self, env: dict[str, str]) -> bool:
        """Whether a child with this environment behaves as a fresh interpreter would:
        the variables read when an interpreter starts or a module is imported (locale,
        time zone, PYTHON*, protobuf's and gRPC's) are the ones the zygote started with."""
        keys = {k for k in (*env, *self.started_env) if k.startswith(START_VARIABLES)}
        return all(env.get(k) == self.started_env.get(k) for k in keys)

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
        answer = ""
        try:
            with self.connect(json.dumps({"env": env}), [out_write, err_write]) as conn:
                answer = conn.makefile("r", encoding="utf-8").readline()
        finally:
            os.close(out_write)
            os.close(err_write)
            if not answer.startswith("pid "):
                os.close(out_read)
                os.close(err_read)
        if not answer.startswith("pid "):
            raise ZygoteFailed(f"the provider zygote answered {answer!r}")
        return int(answer.split()[1]), out_read, err_read

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.directory, ignore_errors=True)


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
