"""The README's first command: the main job on the embedded default."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_quickstart_runs_a_signed_round_trip_on_the_emulator(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pulumi_dfns.quickstart", "--data-dir", str(tmp_path / "emu")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    for step in ("created  wh-", "updated  wh-", "read     wh-", "deleted  wh-"):
        assert step in result.stdout
    assert "whsec-" not in result.stdout + result.stderr  # the secret stays hidden
