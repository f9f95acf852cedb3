"""How graphrec's cost grows with the shop: every stage at N times Beauty, and its growth exponent.

For each factor N (``--factors 1 5 20 50``) it synthesises a catalogue N times the template
(``benchmarks/synthetic.py``: N re-wired copies of Beauty with Beauty's degree distributions),
then runs each stage as a user would, in a fresh ``GRAPHREC_HOME`` of its own, and measures:

* ``ingest``: ``graphrec ingest`` — rows/s, seconds, peak RSS of the command;
* ``train``: ``graphrec train --epochs E`` — graph export rows/s, seconds per epoch, peak RSS,
  artifact size on disk (one epoch by default: the epochs to convergence are the cost of a
  whole run, not of a step);
* ``answers``: one user's top 10 and one explanation, in-process on the loaded service, p50/p99
  over ``--probes`` users, and the process's RSS;
* ``service``: gunicorn with the checked-in configuration, explanations paced at ``--rate``
  req/s for ``--seconds`` (p50/p99, answers by status class) and RSS per worker;
* the store's peak RSS (the ArcadeDB server's ``VmHWM``).

Then it fits, per stage, ``cost ∝ size^e`` over the factors run (size: purchases + links) and
writes everything to ``benchmarks/results/scale.json`` (merging factors run before, so a big
factor can be run on its own) and a log-log plot ``benchmarks/results/scale.png``.

    python benchmarks/scale.py --factors 1 5 [--epochs 1] [--work /tmp/scale]

``--until ingest`` (or ``train``) stops each factor after that stage, for a factor whose later
stages would not fit the time at hand; ``--from train`` (or ``serve``) takes them up later on the
factor's home kept in ``--work``, keeping the earlier stages' figures (each stage records the
commit it measured). A stage that fails or runs past ``--stage-timeout`` is
recorded with its error and the next factors' same stage still run; the store of each factor is
stopped when its stages are done.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import paced  # noqa: E402
from benchmarks.reload import workers_of  # noqa: E402
from benchmarks.server import start_server, stop_server  # noqa: E402
from benchmarks.synthetic import DEFAULT_TEMPLATE, Template, synthesise  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "scale.json"
PLOT = ROOT / "benchmarks" / "results" / "scale.png"
#: The stages in the order they run; each needs the ones before it.
STAGES = ("ingest", "train", "serve")
#: The code measured: each stage's figures name it, since ``--from`` runs stages apart.
COMMIT = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                        text=True, check=False).stdout.strip() or None
#: Stage figures whose growth is fitted: (stage, key, label of the plot).
COSTS = (("ingest", "seconds", "ingest s"), ("train", "export_seconds", "graph export s"),
         ("train", "seconds_per_epoch", "train s/epoch"), ("train", "peak_rss_mb", "train RSS"),
         ("answers", "top10_ms_p99", "top 10 p99 ms"),
         ("answers", "explain_ms_p99", "explanation p99 ms"),
         ("service", "p99_ms", "service p99 ms"), ("train", "artifact_mb", "artifact MB"))


def run_step(command: list[str], env: dict[str, str], log: Path, timeout: float
             ) -> dict[str, Any]:
    """Run one command; its wall seconds, peak RSS (MB), exit status and the output (kept in
    ``log``).

    The peak is the command's own ``VmHWM``, read while it runs: ``wait4``'s ``ru_maxrss``
    would be at least this process's RSS at the fork, which Linux carries across ``exec``
    (several GB here once a large catalogue has been synthesised)."""
    started = time.perf_counter()
    peak = 0.0
    with open(log, "wb") as out:
        proc = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT,
                                cwd=ROOT)
        deadline = time.monotonic() + timeout
        while True:
            peak = max(peak, _status_mb(proc.pid, "VmHWM") or 0.0)
            pid, status, _ = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                proc.kill()
                pid, status, _ = os.wait4(proc.pid, 0)
                status = -9
                break
            time.sleep(0.1)
    proc.returncode = 0  # reaped above
    return {"seconds": round(time.perf_counter() - started, 2), "peak_rss_mb": peak,
            "exit": os.waitstatus_to_exitcode(status) if status != -9 else "timeout",
            "output": log.read_text(errors="replace")}


def _status_mb(pid: int, field: str) -> float | None:
    """``field`` (a kB figure) of ``/proc/PID/status`` in MB; None once the process is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


def store_peak_mb(home: Path) -> float | None:
    """The local store's peak RSS so far (MB), or None when it is not running."""
    try:
        pid = json.loads((home / "store" / "server.json").read_text())["pid"]
    except (OSError, KeyError, ValueError):
        return None
    return _status_mb(pid, "VmHWM")


def rss_mb(pid: int) -> float:
    return _status_mb(pid, "VmRSS") or 0.0


def number(pattern: str, text: str) -> float | None:
    found = re.search(pattern, text)
    return float(found.group(1).replace(",", "")) if found else None


def probe(home: Path, probes: int) -> dict[str, Any]:
    """Top 10 and explanation latencies of ``probes`` users on the loaded service (run in a
    process of its own: ``--probe``)."""
    from graphrec.config import Settings
    from graphrec.serving.service import RecommendationService
    from graphrec.store.connection import open_store

    settings = Settings.from_env({**os.environ, "GRAPHREC_HOME": str(home)})
    with open_store(settings) as store:
        started = time.perf_counter()
        service = RecommendationService.load(
            settings, store, catalogue_check_interval=settings.catalogue_check_interval,
            reason_cache_size=0)  # every explanation ranked, as on a first visit
        service.items.warm()
        load_seconds = time.perf_counter() - started
        rng = np.random.default_rng(0)
        recommender = service.recommender
        train = np.asarray(service.now.data.train)
        users = rng.choice(len(recommender.user_ids), probes, replace=False)
        top10, explain = [], []
        for user in users:
            history = np.unique(train[train[:, 0] == user, 1])
            tick = time.perf_counter()
            recommender.recommend(history, 10)
            top10.append((time.perf_counter() - tick) * 1000)
        for user in users:
            user_id = recommender.user_ids[int(user)]
            page = service.recommend(user_id, 10)
            if not page:
                continue
            tick = time.perf_counter()
            service.explain(user_id, page[len(page) // 2]["item_id"])
            explain.append((time.perf_counter() - tick) * 1000)
    return {"load_seconds": round(load_seconds, 2), "rss_mb": rss_mb(os.getpid()),
            "top10_ms_p50": round(float(np.percentile(top10, 50)), 3),
            "top10_ms_p99": round(float(np.percentile(top10, 99)), 3),
            "explain_ms_p50": round(float(np.percentile(explain, 50)), 2),
            "explain_ms_p99": round(float(np.percentile(explain, 99)), 2),
            "users": int(probes)}


def service_run(home: Path, env: dict[str, str], rate: float, seconds: float, log: Path
                ) -> dict[str, Any]:
    """Explanations at ``rate`` req/s through gunicorn: latency, answers, RSS per worker."""
    from graphrec.config import Settings
    from graphrec.serving.service import RecommendationService
    from graphrec.store.connection import open_store

    settings = Settings.from_env({**env, "GRAPHREC_HOME": str(home)})
    with open_store(settings) as store:
        service = RecommendationService.load(settings, store, catalogue_check_interval=None,
                                             reason_cache_size=0)
        ids = service.recommender.user_ids[:200]
        pairs = [(u, page[0]["item_id"]) for u in ids if (page := service.recommend(u, 10))]
        del service  # the workers load their own: this one's arrays are GBs at N = 50
    proc, port, _ = start_server(env, log, ready_timeout=900)  # N = 50 builds its index
    try:
        outcomes = paced.run(
            port, lambda i: ("GET", "/api/users/{}/recommendations/{}/explanation".format(
                *pairs[i % len(pairs)]), None, {}), rate, seconds)
        workers = [rss_mb(pid) for pid in workers_of(proc.pid)]
    finally:
        stop_server(proc)
    summary = paced.summary(outcomes)
    if set(summary["answers"]) != {"2xx"}:  # a latency of errors is not the service's
        summary.update(p50_ms=None, p99_ms=None, error=f"not every answer 2xx: see {log}")
    return {**summary, "rate": rate, "worker_rss_mb": workers}


def measure_factor(factor: float, args: argparse.Namespace, template: Template,
                   before: dict[str, Any] | None = None) -> dict[str, Any]:
    """Every stage from ``args.start`` to ``args.until`` on N = ``factor``; ``before`` is the
    factor's earlier run, whose figures the stages not run now keep."""
    work = args.work / f"x{factor:g}"
    data, home = work / "data", work / "home"
    env = {**os.environ, "GRAPHREC_HOME": str(home), "GRAPHREC_STORE_HEAP": args.store_heap}
    env.pop("NEO4J_URI", None)
    graphrec = [sys.executable, "-m", "graphrec.cli"]
    first = STAGES.index(args.start)
    if first:
        if before is None or not home.is_dir():
            raise SystemExit(f"--from {args.start}: x{factor:g} has no earlier run in {args.out} "
                             f"or no home in {home}")
        result = {key: before[key] for key in ("factor", "catalogue", *STAGES[:first])
                  if key in before}
    else:
        shutil.rmtree(work, ignore_errors=True)
        home.mkdir(parents=True, mode=0o700)
        result = {"factor": factor}
    try:
        if first == 0:
            tick = time.perf_counter()
            counts = synthesise(template, factor, data, seed=args.seed)
            result["catalogue"] = {**counts, "size": counts["purchases"] + counts["item_links"],
                                   "synthesis_seconds": round(time.perf_counter() - tick, 1)}
            say(factor, f"catalogue {counts}")
            step = run_step([*graphrec, "ingest", str(data)], env, work / "ingest.log",
                            args.stage_timeout)
            rows = sum(counts.values())
            result["ingest"] = {"seconds": step["seconds"], "exit": step["exit"],
                                "peak_rss_mb": step["peak_rss_mb"],
                                "rows_per_s": round(rows / step["seconds"]),
                                "commit": COMMIT}
            say(factor, f"ingest {result['ingest']}")
        if args.until == "ingest":
            return result
        if first <= 1:
            step = run_step([*graphrec, "train", "--epochs", str(args.epochs), "--quiet"], env,
                            work / "train.log", args.stage_timeout)
            out = step["output"]
            model = home / "models" / "current"
            result["train"] = {
                "seconds": step["seconds"], "exit": step["exit"], "epochs": args.epochs,
                "peak_rss_mb": step["peak_rss_mb"],
                "export_rows_per_s": number(r"\(([\d,]+) rows/s\)", out),
                "export_seconds": number(r"rows in ([\d.]+)s", out),
                **_trained(model),
                "artifact_mb": round(sum(f.stat().st_size for f in model.rglob("*")
                                         if f.is_file()) / 2**20, 1)
                if model.exists() else None,
                "commit": COMMIT}
            say(factor, f"train {result['train']}")
            if step["exit"] != 0:
                return result
        if args.until == "serve":
            step = run_step([sys.executable, __file__, "--probe", str(home),
                             "--probes", str(args.probes)], env, work / "probe.log",
                            args.stage_timeout)
            lines = step["output"].strip().splitlines()
            result["answers"] = ({**json.loads(lines[-1]), "peak_rss_mb": step["peak_rss_mb"],
                                  "commit": COMMIT}
                                 if step["exit"] == 0 else {"exit": step["exit"]})
            say(factor, f"answers {result['answers']}")
            try:
                service = service_run(home, env, args.rate, args.seconds, work / "service.log")
            except SystemExit as exc:  # a service that never got ready: keep what was measured
                service = {"error": str(exc)}
            result["service"] = {**service, "commit": COMMIT}
            say(factor, f"service {result['service']}")
    finally:
        result["store_peak_rss_mb"] = store_peak_mb(home)
        subprocess.run([*graphrec, "db", "stop"], env=env, cwd=ROOT, capture_output=True,
                       timeout=120, check=False)
        if not args.keep:
            shutil.rmtree(data, ignore_errors=True)
    return result


def _trained(model: Path) -> dict[str, Any]:
    """Seconds an epoch as the saved model's training log timed them (the command prints
    epochs/s to two decimals: 0.03 is anything from 29 to 40 s) and the softmax it took."""
    try:
        history = json.loads((model / "metrics.json").read_text())["history"]
        config = json.loads((model / "config.json").read_text())["train"]
    except (OSError, ValueError, KeyError):
        return {"seconds_per_epoch": None, "softmax": None}
    return {"seconds_per_epoch": history.get("seconds_per_epoch"),
            "softmax": "sampled" if config.get("sampled_softmax") else "full"}


def say(factor: float, text: str) -> None:
    print(f"[x{factor:g}] {text}", flush=True)


def exponent(sizes: list[float], costs: list[float]) -> float | None:
    """``e`` of ``cost ∝ size^e``, least squares in log-log; ``None`` under two sizes."""
    if len(set(sizes)) < 2:
        return None
    return round(float(np.polyfit(np.log(sizes), np.log(costs), 1)[0]), 2)


def growth(runs: list[dict[str, Any]]) -> dict[str, float | None]:
    """:func:`exponent` per cost over the factors run."""
    out: dict[str, float | None] = {}
    for stage, key, label in COSTS:
        points = [(r["catalogue"]["size"], r[stage][key]) for r in runs
                  if isinstance(r.get(stage), dict) and r[stage].get(key)]
        out[label] = exponent([p[0] for p in points], [p[1] for p in points])
    return out


def plot(runs: list[dict[str, Any]], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 5))
    for stage, key, label in COSTS:
        points = sorted((r["catalogue"]["size"], r[stage][key]) for r in runs
                        if isinstance(r.get(stage), dict) and r[stage].get(key))
        if points:
            axes.plot(*zip(*points), marker="o", label=label)
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel("purchases + item links")
    axes.set_ylabel("cost (unit in the legend)")
    axes.set_title("graphrec at N × Beauty")
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)


def print_table(runs: list[dict[str, Any]], exponents: dict[str, float | None]) -> None:
    header = ["N", "purch.+links", "ingest rows/s", "export rows/s", "s/epoch", "train RSS MB",
              "top10 p99 ms", "expl. p99 ms", "service p99 ms", "worker RSS MB"]
    print(" | ".join(header))
    for r in runs:
        t, a, s = r.get("train", {}), r.get("answers", {}), r.get("service", {})
        print(" | ".join(str(v) for v in (
            f"{r['factor']:g}", f"{r['catalogue']['size']:,}",
            r.get("ingest", {}).get("rows_per_s"), t.get("export_rows_per_s"),
            t.get("seconds_per_epoch"), t.get("peak_rss_mb"), a.get("top10_ms_p99"),
            a.get("explain_ms_p99"), s.get("p99_ms"), s.get("worker_rss_mb"))))
    print("growth exponents: " + ", ".join(f"{k} {v}" for k, v in exponents.items()))


def arguments() -> argparse.ArgumentParser:
    """The command line; tests parse theirs with it, so a new option reaches them too."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--factors", type=float, nargs="+", default=[1, 5, 20, 50])
    parser.add_argument("--template", type=Path, default=DEFAULT_TEMPLATE)
    parser.add_argument("--work", type=Path, default=Path("/tmp/graphrec-scale"))
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--probes", type=int, default=200)
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--store-heap", default="4g")
    parser.add_argument("--stage-timeout", type=float, default=4 * 3600)
    parser.add_argument("--keep", action="store_true", help="keep the synthetic CSV files")
    parser.add_argument("--from", dest="start", choices=STAGES, default=STAGES[0],
                        help="the first stage to run: a later one reuses the factor's home in "
                             "--work and keeps its earlier stages' figures from --out")
    parser.add_argument("--until", choices=STAGES, default=STAGES[-1],
                        help="the last stage to run: each needs the ones before it")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--probe", type=Path, help=argparse.SUPPRESS)
    return parser


def main() -> int:
    args = arguments().parse_args()
    if args.probe:
        print(json.dumps(probe(args.probe, args.probes)))
        return 0

    template = Template.read(args.template)
    old = json.loads(args.out.read_text()) if args.out.exists() else {}
    runs = {f"{r['factor']:g}": r for r in old.get("runs", [])}
    for factor in args.factors:
        runs[f"{factor:g}"] = measure_factor(factor, args, template, runs.get(f"{factor:g}"))
        ordered = sorted(runs.values(), key=lambda r: r["factor"])
        exponents = growth(ordered)
        report = {"template": str(args.template), "machine": platform.platform(),
                  "cpus": os.cpu_count(), "epochs": args.epochs, "runs": ordered,
                  "growth_exponents": exponents}
        args.out.write_text(json.dumps(report, indent=2) + "\n")
    print_table(ordered, exponents)
    plot(ordered, args.out.with_suffix(".png"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
