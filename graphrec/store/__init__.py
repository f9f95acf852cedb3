"""The graph store: the driver and its queries (:mod:`.connection`), the local ArcadeDB server
graphrec starts when no Neo4j is configured (:mod:`.local`), and what is read out of the graph
in bulk (:mod:`.export`, :mod:`.stats`).

The neo4j driver is imported here, before any module of the package uses it, without pandas:
on import the driver tries pandas (and pyarrow) for ``Result.to_df()``, which graphrec never
calls, and importing pandas is a good part of a ``graphrec recommend`` that should answer in
under a second, and of every web worker's start (benchmarks/results/NOTES.md). pandas is hidden
only while the driver loads and only when nothing has imported it yet; whatever imports it
later (training, the benchmark) gets it as usual.
"""
import sys


def _import_driver() -> None:
    if "pandas" in sys.modules:
        import neo4j  # noqa: F401
        return
    sys.modules["pandas"] = None  # type: ignore[assignment]  # import pandas: ImportError
    try:
        import neo4j  # noqa: F401
    finally:
        del sys.modules["pandas"]


_import_driver()
