"""The two-stack soak, short seed (benchmarks/soak_two_stacks.py runs the long one):
two provider servers run at the same time against one organisation and one receiver
url, often creating identical webhooks at the same moment, while the emulator faults
20% of all API requests. It ends with no duplicate, no silent orphan (a webhook left
in Dfns is held by a state or was named by an error or warning, and is gone once the
user did as it said), no webhook of one stack deleted by anyone else and no deletion
nobody asked for; every failure is one clear line."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support.engine import ERROR_PREFIX
from tests.support.soak import run

# SOAK_SEED lets a developer explore other seeds; CI runs the fixed one.
SEED = int(os.environ.get("SOAK_SEED", "20261127"))
OPERATIONS = int(os.environ.get("SOAK_OPERATIONS", "160"))


@pytest.mark.long
def test_two_stacks_under_faults_leave_no_duplicate_orphan_or_foreign_deletion(
    tmp_path: Path,
) -> None:
    result = run(tmp_path / "soak", OPERATIONS, SEED)
    print(f"\nsoak: {result.summary()}")
    assert result.ok + result.failed == OPERATIONS
    assert 0.15 <= result.requests_faulted / result.requests_seen <= 0.25
    assert result.ok > OPERATIONS / 2  # retries and recovery carry most operations
    assert result.foreign_deletions == []
    assert result.unasked_deletions == []
    assert result.silent_orphans == [], "webhooks in Dfns that no state holds, never named"
    assert result.orphans == [] and result.duplicates == 0
    for details in result.failures:
        assert details.startswith(ERROR_PREFIX), details
        assert "Traceback" not in details
        assert details.strip().count("\n") == 0, details
    assert "Traceback" not in result.engine_output
