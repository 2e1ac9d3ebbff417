"""Smoke test of bench/opening_day.py: a --quick run end to end on PostgreSQL.

No timing is asserted (the machine may be busy): only that the run completes, prints its JSON
summary last, never oversells a place, never answers 5xx, and that the database agrees with
what the clients were told; the floor app (only what any booking must do) books the same
families without overselling either. The run uses its own database on the server of
``INSCRIPTIONS_TEST_DATABASE_URL`` (never the test database itself) and drops it at the end.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from inscriptions.settings import PROJECT_ROOT

PG_URL = os.environ.get("INSCRIPTIONS_TEST_DATABASE_URL", "")
SCRIPT = PROJECT_ROOT / "bench" / "opening_day.py"
GUNICORN = Path(sys.executable).with_name("gunicorn")
# Set-up, two bare rounds, the app's start and ~440 requests, on a possibly busy 2-core machine.
RUN_TIMEOUT_S = 600

pytestmark = [
    pytest.mark.server,
    pytest.mark.postgres,
    pytest.mark.skipif(not PG_URL.startswith("postgresql"), reason="needs INSCRIPTIONS_TEST_DATABASE_URL (PostgreSQL)"),
]


def test_quick_run_books_every_place_once_without_errors() -> None:
    if not GUNICORN.exists():
        pytest.skip(f"gunicorn is not installed in {GUNICORN.parent}")
    server_url = PG_URL.rsplit("/", 1)[0]
    # A name of its own (per process, so two suites on one server do not collide).
    db_name = f"bench_opening_day_smoke_{os.getpid()}"
    env = dict(os.environ, BENCH_DATABASE_URL=server_url)
    done = subprocess.run(  # noqa: S603 - our own script, fixed arguments
        # A generous client timeout: on a busy machine a slow answer must not count as a failure.
        [sys.executable, str(SCRIPT), "--quick", "--db-name", db_name, "--timeout", "120"],
        cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT_S, check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]

    last = done.stdout.strip().splitlines()[-1]
    result = json.loads(last)
    required = {"accepted", "waitlisted", "capacity", "overbooked", "errors_5xx", "bookings_per_s",
                "bare_insert_per_s", "ratio", "p50_ms", "p99_ms"}
    assert required <= result.keys(), output[-4000:]
    for key in required:
        assert isinstance(result[key], int | float) and not isinstance(result[key], bool), key

    assert result["overbooked"] == 0, output[-4000:]
    assert result["errors_5xx"] == 0, output[-4000:]
    # --quick: 60 families for 10 places. Every family that got an answer holds exactly one
    # registration, and every place went to someone.
    assert result["capacity"] == 10
    assert result["consistent"] is True, output[-4000:]
    assert result["accepted"] == 10
    assert result["accepted"] + result["waitlisted"] == result["completed"] > 0
    assert result["bookings_per_s"] > 0 and result["bare_insert_per_s"] > 0

    # The floor app (bench/floor_app.py) booked the same families: a correct booking too (its
    # places never oversold), measured, and its ratio computed from the same bare figure.
    assert result["floor_overbooked"] == 0, output[-4000:]
    assert result["floor_bookings_per_s"] > 0, output[-4000:]
    assert result["floor_ratio"] == pytest.approx(
        result["floor_bookings_per_s"] / result["bare_insert_per_s"], abs=0.002)
    assert 0 < result["floor_p50_ms"] <= result["floor_p99_ms"]
