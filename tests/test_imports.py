"""What a command and a web worker import: not pandas, which the neo4j driver pulls in on
import unless :mod:`graphrec.store` hides it (a fifth of a second of every ``graphrec
recommend``, and 40 MB of every worker)."""
from __future__ import annotations

import subprocess
import sys

import pytest

#: The commands' module, the modules of a worker's app that reach the store, and the
#: explorer of notebooks: each imported first, alone.
ENTRY_POINTS = ["graphrec.cli", "web.api", "web.engine", "web.errors", "web.pages",
                "web.serve", "graphrec.explorer"]


@pytest.mark.parametrize("module", ENTRY_POINTS)
def test_an_entry_point_imports_the_driver_without_pandas(module: str) -> None:
    check = (f"import sys, {module}\n"
             "assert 'neo4j' in sys.modules, 'the driver was not imported at all'\n"
             "sys.exit('pandas' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, f"importing {module} imported pandas: {done.stderr[-500:]}"
