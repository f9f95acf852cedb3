"""What a command refuses before it reaches the store or the model: ids that no catalogue can
hold, devices this machine lacks, options that need another. Each is one line and exit 2
(usage), or exit 1 naming the line of the input that is wrong."""
from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest

from graphrec.cli import main

#: Bytes that are not UTF-8 on a command line, as Python hands them over (surrogateescape).
NOT_UTF8 = b"A\xffB".decode("utf-8", "surrogateescape")


def usage_error(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """The one error line of a command refused as a usage error (exit 2)."""
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    line = err.strip().splitlines()[-1]
    assert "Traceback" not in err and "error:" in line
    return line


@pytest.mark.parametrize("argv", [
    ["recommend", NOT_UTF8], ["explain", NOT_UTF8, "B00AE0790U"],
    ["explain", "A1", "a\x00b"], ["forget", NOT_UTF8], ["forget", ".."],
    ["availability", "--off", NOT_UTF8], ["publish", "--users", "A1", "a/b"]])
def test_an_id_no_catalogue_can_hold_is_a_usage_error(
        argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    line = usage_error(argv, capsys)
    assert "is not an id" in line


def test_ids_read_from_standard_input_are_checked_line_by_line(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Every line is checked before anything is forgotten: the error names the line."""
    monkeypatch.setattr(sys, "stdin", io.StringIO(f"A1\n\n{NOT_UTF8}\nA2\n"))
    assert main(["forget", "-"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "standard input, line 3" in err and "not UTF-8" in err


def test_a_closed_standard_input_is_said(monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(sys, "stdin", None)
    assert main(["forget", "-"]) == 1
    assert capsys.readouterr().err == ("graphrec: error: standard input is closed: no ids to "
                                       "read\n")


@pytest.mark.parametrize(("device", "said"), [
    ("bogus", "not a device torch knows"), ("cuda", "CUDA"), ("cuda:7", "CUDA")])
def test_a_device_this_machine_lacks_is_a_usage_error(
        device: str, said: str, capsys: pytest.CaptureFixture[str]) -> None:
    import torch

    if device.startswith("cuda") and torch.cuda.device_count() > (7 if ":" in device else 0):
        pytest.skip("this machine has that CUDA device")
    assert said in usage_error(["train", "--device", device], capsys)


def test_an_update_without_its_folder_is_a_usage_error(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert "--update needs the folder" in usage_error(["ingest", "--update"], capsys)


@pytest.mark.parametrize(("bind", "said"), [
    ("127.0.0.1:abc", "give HOST:PORT"), ("127.0.0.1:99999", "a port is 1 to 65535"),
    ("unix:/tmp/graphrec.sock", "listens on TCP"),
    ("192.0.2.1:8309", "cannot listen on 192.0.2.1:8309")])  # none of this machine's addresses
def test_an_address_the_service_cannot_listen_on_is_a_usage_error(
        bind: str, said: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """It exited 1, as a job that failed; refused before anything is set up."""
    monkeypatch.setenv("GRAPHREC_HOME", str(tmp_path))
    line = usage_error(["serve", "--bind", bind], capsys)
    assert f"--bind {bind!r}" in line or bind in line
    assert said in line
    assert not (tmp_path / "store").exists()


def test_an_interrupt_while_the_driver_decodes_is_said_as_one(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Ctrl-C while the driver fills a buffer: its clean-up fails with a BufferError that
    carries the KeyboardInterrupt, which came out as an 80-line traceback (2 of 16 tries)."""
    import graphrec.cli as cli

    def interrupted_in_decoding(_args: object, _settings: object) -> int:
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt:
            raise BufferError("Existing exports of data: object cannot be re-sized") from None

    monkeypatch.setattr(cli, "cmd_stats", interrupted_in_decoding)
    assert main(["stats"]) == 130
    assert capsys.readouterr().err == "graphrec: interrupted\n"
