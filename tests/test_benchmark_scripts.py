"""Every script under ``benchmarks/`` starts as the README runs it, ``python
benchmarks/NAME.py``, from any directory: the checkout is not an installed package, so a script
that imports ``benchmarks.*`` must put the checkout on its own path. ``peers_hopwise.py`` is
left out: ``peers.py`` starts it in the peers' own environment, where hopwise is."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = sorted(path.name for path in (ROOT / "benchmarks").glob("*.py")
                 if "__main__" in path.read_text(encoding="utf-8")
                 and path.name != "peers_hopwise.py")


def test_the_scripts_are_found() -> None:
    assert {"cold_start.py", "tune.py", "peers.py", "serve.py"} <= set(SCRIPTS)


@pytest.mark.parametrize("script", SCRIPTS)
def test_a_script_answers_help_from_outside_the_checkout(script: str, tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), "--help"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert done.returncode == 0, done.stderr[-2000:]
    assert "usage:" in done.stdout
