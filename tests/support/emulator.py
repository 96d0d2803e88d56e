"""Run the emulator as a real process and drive its `/_emulator/` facilities."""

from __future__ import annotations

import atexit
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import requests

from pulumi_dfns.client import DfnsClient
from pulumi_dfns.emulator.launch import READY, READY_TIMEOUT, launch
from pulumi_dfns.errors import DfnsError
from pulumi_dfns.settings import ClientSettings, load_settings

ROOT = Path(__file__).resolve().parent.parent.parent
# PULUMI_DFNS_TEST_FORK=0: start every emulator with `python -m pulumi_dfns.emulator`.
FORK = os.environ.get("PULUMI_DFNS_TEST_FORK", "1") != "0"


class Zygote:
    """tests/support/zygote.py as a process: emulators forked from a warm interpreter."""

    _current: Zygote | None = None

    def __init__(self) -> None:
        self.path = os.path.join(tempfile.mkdtemp(prefix="dfns-zygote-"), "sock")
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), *sys.path])}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.support.zygote", self.path],
            stdin=subprocess.DEVNULL,  # an xdist worker's stdin is its channel
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert self.proc.stdout is not None
        if self.proc.stdout.readline().strip() != "zygote ready":
            raise DfnsError(f"the emulator zygote did not start (exit {self.proc.wait()})")
        atexit.register(self.close)

    @classmethod
    def get(cls) -> Zygote:
        if cls._current is None or cls._current.proc.poll() is not None:
            cls._current = cls()
        return cls._current

    def launch(self, data_dir: Path, *args: str, port: int) -> tuple[int, str]:
        """Fork an emulator; answer its pid and url (as launch() answers for a child)."""
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        conn.connect(self.path)
        argv = ["--data-dir", str(data_dir), "--port", str(port), *args]
        conn.sendall((json.dumps(argv) + "\n").encode())
        lines = conn.makefile("r", encoding="utf-8", errors="replace")
        pid, url, printed = 0, "", list[str]()
        deadline = time.monotonic() + READY_TIMEOUT
        while not (pid and url) and time.monotonic() < deadline:
            line = lines.readline()
            if not line:
                raise DfnsError(f"the emulator exited before it was ready: {printed[-3:]}")
            printed.append(line.strip())
            if line.startswith("pid "):
                pid = int(line.split()[1])
            elif match := READY.search(line):
                url = match.group(1)
        if not (pid and url):
            raise DfnsError(f"the emulator was not ready within {READY_TIMEOUT:g} s")
        # Keep reading what it prints later, so it never blocks on a full socket.
        threading.Thread(target=lines.read, daemon=True).start()
        return pid, url

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


class EmulatorProcess:
    """One emulator process (`python -m pulumi_dfns.emulator`'s main) on a free port."""

    # Emulators started in this process: tests/conftest.py counts processes with it.
    started = 0

    def __init__(self, data_dir: Path, *args: str) -> None:
        self.data_dir = data_dir
        self.args = args
        self.url = ""
        self._proc: subprocess.Popen[str] | None = None
        self._pid = 0
        self.http = requests.Session()

    def start(self, port: int = 0) -> EmulatorProcess:
        EmulatorProcess.started += 1
        if FORK:
            self._pid, self.url = Zygote.get().launch(self.data_dir, *self.args, port=port)
        else:
            self._proc, self.url = launch(self.data_dir, *self.args, port=port)
        return self

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        if self._pid and not _gone(self._pid):
            os.kill(self._pid, signal.SIGTERM)
            deadline = time.monotonic() + 10
            while not _gone(self._pid) and time.monotonic() < deadline:
                time.sleep(0.005)
            if not _gone(self._pid):
                os.kill(self._pid, signal.SIGKILL)
        self._pid = 0
        self.http.close()

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    # -- credentials and clients ------------------------------------------------------

    def credentials(self) -> dict[str, str]:
        data: dict[str, str] = json.loads((self.data_dir / "credentials.json").read_text())
        return data

    def config(self) -> dict[str, str]:
        """The stack-config shape (`dfns:` keys) for this emulator: the four settings
        credentials.json carries (not `credentialUuid`, which is no setting)."""
        settings = ("apiUrl", "authToken", "credentialId", "privateKeyFile")
        return {
            f"dfns:{key}": value for key, value in self.credentials().items() if key in settings
        }

    def settings(self, **overrides: Any) -> ClientSettings:
        settings = load_settings(self.config(), env={})
        if overrides:
            settings = ClientSettings(
                **{**settings.__dict__, **overrides}  # frozen dataclass: rebuild
            )
        return settings

    def client(self, **kwargs: Any) -> DfnsClient:
        return DfnsClient(self.settings(), **kwargs)

    # -- /_emulator/ ------------------------------------------------------------------

    def control(self, method: str, name: str, body: Any = None) -> Any:
        response = self.http.request(method, f"{self.url}/_emulator/{name}", json=body, timeout=10)
        response.raise_for_status()
        return response.json()

    def requests_log(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self.control("GET", "requests")["items"]
        return items

    def clear_log(self) -> None:
        self.control("DELETE", "requests")

    def fault(self, method: str, path: str, action: str, **extra: Any) -> None:
        self.control("POST", "faults", {"method": method, "path": path, "action": action, **extra})

    def clear_faults(self) -> None:
        self.control("DELETE", "faults")

    def set_latency(self, seconds: float) -> None:
        self.control("POST", "latency", {"seconds": seconds})

    def advance_clock(self, seconds: float) -> None:
        self.control("POST", "clock", {"advanceSeconds": seconds})

    def connections_opened(self) -> int:
        count: int = self.control("GET", "stats")["connectionsOpened"]
        return count

    def issue_token(self, **body: Any) -> str:
        token: str = self.control("POST", "tokens", body)["token"]
        return token

    def webhooks(self) -> list[dict[str, Any]]:
        """What the emulator holds, read with the service account's own token."""
        return self.client().list_webhooks()
