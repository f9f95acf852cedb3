"""Waiting in tests: poll the condition awaited, with a deadline, instead of sleeping a guess."""
from __future__ import annotations

import time
from collections.abc import Callable

import pytest


def wait_for(condition: Callable[[], object], what: str, timeout: float = 30.0,
             interval: float = 0.05) -> float:
    """Poll ``condition`` until it holds; the seconds it took. The test fails, saying ``what``
    was awaited, when it does not hold within ``timeout`` seconds."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            pytest.fail(f"waited {timeout:.0f} s for {what}")
        time.sleep(interval)
    return time.monotonic() - started
