"""Start the emulator as a child process and wait for its ready line."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import time
from pathlib import Path

from ..errors import DfnsError

READY = re.compile(r"ready at (http://\S+)")
READY_TIMEOUT = 30.0


def launch(data_dir: Path, *args: str, port: int = 0) -> tuple[subprocess.Popen[str], str]:
    """Run `python -m pulumi_dfns.emulator`; answer the process and the URL it serves.

    The caller stops the process (terminate, then wait).
    """
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pulumi_dfns.emulator",
            "--data-dir",
            str(data_dir),
            "--port",
            str(port),
            *args,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            raise DfnsError(f"the emulator exited before it was ready (exit {proc.wait()})")
        match = READY.search(line)
        if match:
            # Keep reading what it prints later, so a full pipe can never stall it.
            threading.Thread(target=proc.stdout.read, daemon=True).start()
            return proc, match.group(1)
    proc.kill()
    proc.wait()
    raise DfnsError(f"the emulator was not ready within {READY_TIMEOUT:g} s")
