"""``graphrec benchmark`` with graphrec's model at another size, for a catalogue where the default
configuration does not train in the time there is.

The row is still ``graphrec`` (its explanations are measured and ``--save-model`` keeps it), and
its ``params`` say what differs from the defaults: ``embedding_dim``, ``max_epochs`` and
``refit`` (``--no-refit`` keeps the validation run's best model, trained on nine tenths of
train, instead of training a fresh one on all of it for the chosen number of epochs), and
with ``--sampled-negatives`` the sampled softmax's mixture (``TrainConfig.sampled_softmax``
with that many uniform negatives a batch and ``--sampled-correction``). Epochs are still
chosen on the validation split; the test split is read only by the evaluation. Every other
argument is ``graphrec benchmark``'s.

    python benchmarks/graphrec_sized.py --max-epochs 5 --no-refit -- \\
        --data ../shared/datasets/amazon_clothing --models graphrec --threads 2 --save-model DIR
    python benchmarks/graphrec_sized.py --sampled-negatives 4096 --sampled-correction 0.5 \\
        --no-refit -- --data ../shared/datasets/amazon_clothing --models graphrec --out FILE
"""
from __future__ import annotations

import argparse
import sys

from graphrec import cli
from graphrec.evaluation import benchmark
from graphrec.model.train import KGRecRecommender, TrainConfig


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--embedding-dim", type=int, default=TrainConfig.embedding_dim)
    parser.add_argument("--max-epochs", type=int, default=TrainConfig.max_epochs)
    parser.add_argument("--no-refit", action="store_true",
                        help="keep the validation run's best model instead of refitting")
    parser.add_argument("--sampled-negatives", type=int,
                        help="train with the sampled softmax and this many uniform negatives")
    parser.add_argument("--sampled-correction", type=float,
                        default=TrainConfig.sampled_correction)
    parser.add_argument("rest", nargs=argparse.REMAINDER,
                        help="after --: graphrec benchmark's arguments")
    args = parser.parse_args(argv)
    rest = args.rest[1:] if args.rest[:1] == ["--"] else args.rest

    def sized(seed: int) -> KGRecRecommender:
        config = TrainConfig(seed=seed, embedding_dim=args.embedding_dim,
                             max_epochs=args.max_epochs,
                             sampled_softmax=args.sampled_negatives is not None,
                             sampled_negatives=args.sampled_negatives or 0,
                             sampled_correction=args.sampled_correction)
        return KGRecRecommender(config, progress=print, refit=not args.no_refit)

    benchmark.MODELS["graphrec"] = sized
    return cli.main(["benchmark", *rest])


if __name__ == "__main__":
    sys.exit(main())
