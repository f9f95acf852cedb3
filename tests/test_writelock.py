"""The write lock: one writer at a time per GRAPHREC_HOME, a bounded wait, a private lock file."""
from __future__ import annotations

import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from graphrec.config import Settings
from graphrec.store.writelock import WriterBusy, lock_path, writer_lock


@pytest.fixture
def home(tmp_path: Path) -> Settings:
    return Settings.from_env({"GRAPHREC_HOME": str(tmp_path / "home")})


def test_the_lock_file_is_private_and_names_its_holder(home: Settings) -> None:
    with writer_lock(home, "graphrec ingest"):
        path = lock_path(home)
        assert path == home.home / "write.lock"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(home.home.stat().st_mode) == 0o700
        assert path.read_text().startswith("graphrec ingest, pid ")
    assert path.read_text() == ""


def test_a_second_writer_says_it_waits_and_gives_up_after_its_bound(home: Settings) -> None:
    said: list[str] = []
    with writer_lock(home, "graphrec ingest"):
        started = time.monotonic()
        with (pytest.raises(WriterBusy, match=r"still holds .*write\.lock after 1s"),
              writer_lock(home, "graphrec publish", wait=0.6, notify=said.append)):
            pytest.fail("entered a held lock")
        assert 0.6 <= time.monotonic() - started < 5
    assert len(said) == 1
    assert said[0].startswith("waiting for the other writer on this store (graphrec ingest, pid ")


def test_the_lock_passes_to_the_waiter_when_the_holder_exits(home: Settings) -> None:
    script = ("import sys, time; from graphrec.config import Settings; "
              "from graphrec.store.writelock import writer_lock; "
              "s = Settings.from_env({'GRAPHREC_HOME': sys.argv[1]}); "
              "cm = writer_lock(s, 'holder'); cm.__enter__(); print('held', flush=True); "
              "time.sleep(1.5)")
    holder = subprocess.Popen([sys.executable, "-c", script, str(home.home)],
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline() == "held\n"
    held_at = time.monotonic()
    said: list[str] = []
    with writer_lock(home, "waiter", wait=30, notify=said.append):
        # The holder kept it through its 1.5 s sleep; its exit released it (the descriptor
        # closes while the interpreter shuts down, so the process may not be reaped yet).
        assert time.monotonic() - held_at >= 1.0
        assert holder.wait(10) == 0
        assert lock_path(home).read_text().startswith("waiter, pid ")
    assert len(said) == 1 and "(holder, pid " in said[0]


def test_the_cli_prints_a_busy_store_as_one_line(home: Settings, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    from graphrec import cli
    from graphrec.store import writelock

    monkeypatch.setenv("GRAPHREC_HOME", str(home.home))
    monkeypatch.setattr(cli, "writer_lock", _with_wait(writelock.writer_lock, 0.3))
    with writer_lock(home, "graphrec ingest"):
        assert cli.main(["ingest", "--quiet"]) == 1
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("graphrec: error: the other writer (graphrec ")


def _with_wait(lock, wait: float):
    return lambda settings, holder: lock(settings, holder, wait=wait)
