"""Progress for long work: a bar with rows/s and ETA on stderr, quiet when asked to be."""
from __future__ import annotations

import sys
from typing import Self

from tqdm import tqdm


class RowProgress:
    """A callable ``(step, rows)`` that advances one bar over all steps of a job."""

    def __init__(self, total: int | None, *, unit: str = "rows", enabled: bool = True):
        self._bar = tqdm(total=total, unit=unit, unit_scale=True, file=sys.stderr,
                         disable=not enabled, mininterval=0.5, dynamic_ncols=True)
        self._step = ""

    def __call__(self, step: str, rows: int) -> None:
        if step != self._step:
            self._step = step
            self._bar.set_description(step, refresh=False)
        self._bar.update(rows)

    def expect(self, total: int) -> None:
        """The job's size, once it is known (for the ETA)."""
        self._bar.total = total
        self._bar.refresh()

    def close(self) -> None:
        self._bar.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
