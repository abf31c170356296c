"""bench/bench_import.py as `make bench` and CI run it: a missed target is a non-zero exit, not a word."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench" / "bench_import.py"


@pytest.mark.processes
def test_a_missed_target_exits_non_zero():
    # Ten rows cannot meet the query target (at most one query per tens of rows): MISSED, and a failure.
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "PORTAL_DATA_DIR")}  # its own SQLite
    run = subprocess.run(
        [sys.executable, str(BENCH), "--small", "5", "--large", "10", "--rounds", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "MISSED" in run.stdout, run.stdout + run.stderr
    assert run.returncode == 1, run.stdout + run.stderr
