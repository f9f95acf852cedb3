"""graphrec: explainable product recommendations from a knowledge graph."""
from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from graphrec.config import Settings
    from graphrec.explorer import Explorer

__version__ = "0.1.0"


def connect(home: str | os.PathLike[str] | None = None, *,
            settings: Settings | None = None) -> Explorer:
    """The saved model and the store, for Python and notebooks: see :mod:`graphrec.explorer`.
    (Imported when called: ``import graphrec`` stays as light as the command line needs.)"""
    from graphrec.explorer import connect as open_explorer

    return open_explorer(home, settings=settings)
