"""Whether an array is a view of a memory-mapped file: what the tests of shared arrays ask."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def mapped_from(array: Any, folder: Path) -> bool:
    """Whether ``array`` is a view of a file under ``folder``."""
    base = array
    while base is not None and not isinstance(base, np.memmap):
        base = base.base
    return base is not None and Path(base.filename).is_relative_to(folder)
