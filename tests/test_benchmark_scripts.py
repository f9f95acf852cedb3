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


def test_serve_measures_both_checkouts_in_both_places_with_abba(tmp_path: Path) -> None:
    """With ``--abba`` each checkout is measured once first and once last (the server measured
    second was seen to do worse whatever its code): A B B A, each pass labelled."""
    from benchmarks.serve import ROOT as HEAD
    from benchmarks.serve import passes

    assert passes("first_visits", None, False) == [("first_visits", HEAD)]
    assert passes("first_visits", tmp_path, False) == [("baseline", tmp_path),
                                                        ("first_visits", HEAD)]
    assert passes("repeat_visits", tmp_path, True) == [
        ("baseline_repeat_visits", tmp_path), ("repeat_visits", HEAD),
        ("repeat_visits_2", HEAD), ("baseline_repeat_visits_2", tmp_path)]


def test_reload_reports_each_second_of_the_run() -> None:
    """Requests grouped by the second they were due in, each with its own percentiles, and a
    request without an answer counted but not timed."""
    from benchmarks.paced import Outcome
    from benchmarks.reload import per_second

    outcomes = [Outcome(0.1, 5.0, 200), Outcome(0.9, 7.0, 200), Outcome(2.5, 300.0, 200),
                Outcome(2.6, 9.0, 0, error="ConnectionResetError")]
    assert per_second(outcomes) == [
        {"second": 0, "requests": 2, "p50_ms": 7.0, "p99_ms": 7.0},  # nearest rank
        {"second": 2, "requests": 2, "p50_ms": 300.0, "p99_ms": 300.0}]


def test_reload_reports_when_both_models_answered() -> None:
    """From the first answer of the new model to the last of the old one, by when the requests
    were due; an answer without a version is neither."""
    from benchmarks.paced import Outcome
    from benchmarks.reload import two_models

    def answer(due: float, version: str | None) -> Outcome:
        return Outcome(due, 5.0, 200 if version else 0,
                       body={"model_version": version} if version else {})

    outcomes = [answer(1.0, "old"), answer(2.0, "new"), answer(2.5, "old"), answer(2.75, None),
                answer(3.0, "old"), answer(4.0, "new")]
    assert two_models(outcomes, "old") == {"first_new_s": 2.0, "last_old_s": 3.0,
                                           "seconds": 1.0, "old_answers_after": 2}
    assert two_models(outcomes[:2] + outcomes[-1:], "old")["seconds"] == 0.0
    assert two_models(outcomes[:1], "old")["first_new_s"] is None


def test_the_paced_client_keeps_an_answers_scalars_not_its_pages() -> None:
    """What the reload report reads (the model version) and nothing that would fill the
    client's heap with every page it was sent."""
    from benchmarks.paced import scalars

    page = {"user_id": "U1", "k": 10, "model_version": "v2", "stale": False, "note": None,
            "recommendations": [{"item_id": "I1", "reason": {"nodes": []}}],
            "error": {"code": "x"}}
    assert scalars(page) == {"user_id": "U1", "k": 10, "model_version": "v2", "stale": False,
                             "note": None}
    assert scalars(["not", "an", "object"]) == {}


def test_catalogue_follow_times_the_first_answer_and_the_run_that_stayed() -> None:
    """Asked every 0.1 s: a first answer with the change at the second ask, a worker still
    without it at the third, then every answer with it from the fourth on."""
    from benchmarks.catalogue_follow import followed

    answers = iter([False, True, False, True, True, True])
    seen = followed(lambda: next(answers), poll=0.1, in_a_row=3, timeout=10)
    assert seen["first_s"] is not None and seen["all_s"] is not None
    assert 0.09 <= seen["first_s"] <= 0.2 and 0.29 <= seen["all_s"] <= 0.45
    never = followed(lambda: False, poll=0.05, in_a_row=3, timeout=0.2)
    assert never == {"first_s": None, "all_s": None}
