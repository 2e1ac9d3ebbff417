"""Smoke test of bench/allocation.py: a --quick run end to end (SQLite, in a folder of its own).

No timing is asserted: only that the ranking is made (points, or the draw alone), every
application decided, the draw recomputed from the seed, no session overbooked and the ranked
order kept in each session.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from inscriptions.settings import PROJECT_ROOT

SCRIPT = PROJECT_ROOT / "bench" / "allocation.py"


@pytest.mark.parametrize("rule", ["points", "draw"])
def test_quick_run_is_decided_verified_and_never_overbooks(rule: str) -> None:
    done = subprocess.run(  # noqa: S603 - our own script, fixed arguments
        [sys.executable, str(SCRIPT), "--quick", "--sqlite", "--rule", rule],
        cwd=PROJECT_ROOT, env=dict(os.environ), capture_output=True, text=True, timeout=300, check=False,
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["rule"] == rule
    assert result["applications"] == result["decided"] == result["drawn"] == 500
    assert result["verified"] is True
    assert (result["overbooked"], result["order_violations"]) == (0, 0)
    assert result["allocations_per_s"] > 0
