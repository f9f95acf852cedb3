import pytest

from graphrec.progress import RowProgress


def test_progress_names_the_step_and_the_rate(capsys: pytest.CaptureFixture[str]) -> None:
    with RowProgress(10) as bar:
        bar("users", 4)
        bar("items", 6)
    err = capsys.readouterr().err
    assert "items" in err and "10.0/10.0" in err and "rows/s" in err


def test_quiet_progress_accepts_every_step(capsys: pytest.CaptureFixture[str]) -> None:
    with RowProgress(10, enabled=False) as bar:
        bar("users", 4)
        bar("items", 6)
    assert capsys.readouterr().err == ""
