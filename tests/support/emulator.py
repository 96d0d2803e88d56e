"""Run the emulator as a real process and drive its `/_emulator/` facilities."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import requests

from pulumi_dfns.client import DfnsClient
from pulumi_dfns.emulator.launch import READY, READY_TIMEOUT, launch
from pulumi_dfns.errors import DfnsError
from pulumi_dfns.settings import ClientSettings, load_settings
from tests.support.zygotes import FORK, Zygote, stop


def _fork(data_dir: Path, *args: str, port: int) -> tuple[int, str]:
    """Fork an emulator from the zygote; its pid and url (as launch() answers for a child)."""
    argv = ["--data-dir", str(data_dir), "--port", str(port), *args]
    conn = Zygote.get("emulator").connect(json.dumps(argv))
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


class EmulatorProcess:
    """One emulator process (`python -m pulumi_dfns.emulator`'s main) on a free port."""

    # Emulators forked in this process (tests/conftest.py counts processes with it; one
    # started as a command is counted as every subprocess is).
    forked = 0

    def __init__(self, data_dir: Path, *args: str) -> None:
        self.data_dir = data_dir
        self.args = args
        self.url = ""
        self._proc: subprocess.Popen[str] | None = None
        self._pid = 0
        self.http = requests.Session()

    def start(self, port: int = 0) -> EmulatorProcess:
        if FORK:
            EmulatorProcess.forked += 1
            self._pid, self.url = _fork(self.data_dir, *self.args, port=port)
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
        if self._pid:
            stop(self._pid)
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
