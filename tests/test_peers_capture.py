"""A path model's lists and paths as peers_hopwise.capture_top10 records them (lists without the
items a model did not score, the paths of listed items only), and CAFE's metapaths: checked with
the peers' own Python, since hopwise lives only in their environment (skipped where it is not)."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PYTHON = ROOT / "benchmarks" / ".peers-venv" / "bin" / "python"


@pytest.mark.skipif(not PYTHON.exists(), reason="no peers environment: python benchmarks/peers.py")
def test_lists_skip_unscored_items_and_keep_the_listed_items_paths() -> None:
    done = subprocess.run([str(PYTHON), str(ROOT / "tests" / "peers" / "capture.py"),
                           str(ROOT / "benchmarks")], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().endswith("ok")
