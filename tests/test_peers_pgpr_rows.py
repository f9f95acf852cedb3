"""PGPR's score rows stay with their users (benchmarks/peers_hopwise.PGPR): checked with the
peers' own Python, since hopwise lives only in their environment (skipped where it is not)."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PYTHON = ROOT / "benchmarks" / ".peers-venv" / "bin" / "python"


@pytest.mark.skipif(not PYTHON.exists(), reason="no peers environment: python benchmarks/peers.py")
def test_rows_follow_users_when_one_has_no_path() -> None:
    done = subprocess.run([str(PYTHON), str(ROOT / "tests" / "peers" / "pgpr_rows.py"),
                           str(ROOT / "benchmarks")], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().endswith("ok")
