"""Where the full public catalogues are: ``../shared/datasets`` beside the checkout (read-only,
see its README).

The benchmark scripts take their default catalogue from here and the tests that read a full
catalogue skip when it is absent; the core never reads this folder (``graphrec`` is given
its data), so the location lives with the benchmarks rather than in ``graphrec.config``.
"""
from __future__ import annotations

from pathlib import Path

from graphrec.dataset import GraphData
from ingest.detect import read_catalogue
from ingest.frames import CatalogueFrames, catalogue_frames

DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"
#: The benchmark catalogue (Amazon 2014 Beauty, PGPR's split).
BEAUTY = DATASETS / "amazon_beauty"


def read_graph(path: str | Path, categories: str = "path"
               ) -> tuple[GraphData, CatalogueFrames]:
    """The catalogue at ``path`` (any format ``graphrec ingest`` reads; ``categories`` as
    ``graphrec ingest --categories`` takes it) as the models' graph, with the frames it was
    made from (the purchases' order, for the cold-start splits)."""
    frames = catalogue_frames(read_catalogue(path, categories=categories))
    return frames.graph(), frames
