"""Parts of ``benchmarks/peers_hopwise.py`` checked with the peers' own Python, since hopwise
lives only in their environment (skipped where it is not): each script under ``tests/peers``
prints ``ok`` when its checks pass."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PYTHON = ROOT / "benchmarks" / ".peers-venv" / "bin" / "python"


@pytest.mark.skipif(not PYTHON.exists(), reason="no peers environment: python benchmarks/peers.py")
@pytest.mark.parametrize("script", [
    "pgpr_rows.py",  # PGPR's score rows stay with their users when one has no path
    "capture.py",  # lists leave out unscored items, keep the listed items' paths; CAFE's metapaths
    "pgpr_actions.py",  # PGPR's next actions from arrays are hopwise's, in hopwise's order
])
def test_the_peers_side(script: str) -> None:
    done = subprocess.run([str(PYTHON), str(ROOT / "tests" / "peers" / script),
                           str(ROOT / "benchmarks")], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().endswith("ok")
