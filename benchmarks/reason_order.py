"""Which reason goes first: the explanation report of one saved model at several margins of
``PathRanker.recent_within``, in one run.

Of the reasons whose weight is within the margin of the strongest's, the one from the latest
purchase is shown first (:mod:`graphrec.explain.ranker`). A wider margin makes the first reason
more recent (LIR) and, past some point, one the score leans on less (fidelity, necessity): each
margin here gets the benchmark's whole explanation report
(:func:`graphrec.evaluation.fidelity.explanation_report`: the same pairs and lists, seed 0) on
the same model, the one ``graphrec benchmark --models graphrec --save-model DIR`` keeps::

    python benchmarks/reason_order.py --model DIR [--data ../shared/datasets/amazon_beauty] \
        [--within 0 0.05 0.1 0.2] [--out benchmarks/results/reason-order-beauty.json]

0 is strongest first throughout.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from graphrec.config import one_maths_thread  # noqa: E402  (before numpy loads)

one_maths_thread()

from benchmarks.datasets import BEAUTY, read_graph  # noqa: E402
from graphrec.evaluation.benchmark import dataset_summary  # noqa: E402
from graphrec.evaluation.fidelity import explanation_report  # noqa: E402
from graphrec.evaluation.path_quality import purchase_order  # noqa: E402
from graphrec.model import artifact  # noqa: E402

#: The report's figures the table shows, and their headings.
SHOWN = {"fidelity_ratio": "fidelity", "fidelity_ratio_several_history_items": "fid. several",
         "necessity": "necessity", "necessity_best_single_path": "nec. best",
         "sufficiency": "sufficiency", "top3_masked_out_of_top10": "top 3 out",
         "lir": "LIR", "sep": "SEP", "etd": "ETD"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="a model saved by graphrec benchmark")
    parser.add_argument("--data", default=str(BEAUTY), help="default: %(default)s")
    parser.add_argument("--within", type=float, nargs="+", default=[0.0, 0.05, 0.1, 0.2],
                        help="margins to compare (shares of the strongest weight)")
    parser.add_argument("--out", default="benchmarks/results/reason-order-beauty.json")
    args = parser.parse_args()
    data, frames = read_graph(args.data)
    saved = artifact.load(args.model)
    model, order = saved.load_model(), purchase_order(data, frames.purchases)
    out = Path(args.out)
    reports: dict[str, Any] = {}
    for within in args.within:
        print(f"--- reasons within {within:.0%} of the strongest may go first", flush=True)
        reports[str(within)] = explanation_report(model, data, order=order, progress=print,
                                                  recent_within=within)
        out.write_text(json.dumps({"dataset": dataset_summary(data, args.data),
                                   "model": saved.version, "reports": reports}, indent=2) + "\n")
    print(f"{'within':>7} " + " ".join(f"{name:>12}" for name in SHOWN.values()))
    for within, report in reports.items():
        print(f"{float(within):>7.0%} " + " ".join(f"{report[key]:>12.4f}" for key in SHOWN))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
