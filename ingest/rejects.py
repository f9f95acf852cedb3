"""The rejects report: every row or field a reader could not use, as a CSV file and a summary."""

from __future__ import annotations

import csv
import os
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from graphrec.private import open_private, private_folder
from ingest.records import Reject

COLUMNS: tuple[str, ...] = ("file", "line", "field", "reason", "value", "action")


def write_rejects(rejects: Iterable[Reject], path: str | Path) -> int:
    """Write ``rejects`` to ``path`` as UTF-8 CSV with a header of :data:`COLUMNS`; returns the
    number of rows written (the header is written even when there are none).

    Rejected rows are catalogue data, so the file is readable by its owner only (0600), and a
    missing folder is created readable by its owner only (0700): a fresh ``GRAPHREC_HOME`` has
    no ``rejects`` folder yet.
    """
    path = Path(path)
    private_folder(path.parent)
    descriptor = open_private(path, os.O_WRONLY | os.O_TRUNC)
    count = 0
    with open(descriptor, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        for reject in rejects:
            writer.writerow(
                (reject.file, reject.line, reject.field, reject.reason, reject.value, reject.action)
            )
            count += 1
    return count


def reason_kind(reason: str) -> str:
    """A reason without its details in parentheses: ``"duplicate item id (first on line 12)"``
    → ``"duplicate item id"``."""
    return reason.split(" (", 1)[0]


def summarise(rejects: Iterable[Reject]) -> dict[str, int]:
    """How many rejects there are of each kind of reason (see :func:`reason_kind`), most
    frequent first, ties in alphabetical order."""
    counts = Counter(reason_kind(reject.reason) for reject in rejects)
    return dict(sorted(counts.items(), key=lambda kind_count: (-kind_count[1], kind_count[0])))


def rejected_counts(rejects: Iterable[Reject]) -> str:
    """``"N rows skipped, M fields dropped"``: the rows of which nothing loads, and apart from
    them the fields left out (dropped, or cut short) of rows that do load. Counted together
    they did not add up to the rows read less those loaded (Amazon magazine: 1,198 rows skipped
    and 2,189 HTML titles and prices dropped read as "3,387 rejected")."""
    rejects = list(rejects)
    skipped = {(r.file, r.line) for r in rejects if r.action == "row skipped"}
    fields = sum(1 for r in rejects
                 if r.action != "row skipped" and (r.file, r.line) not in skipped)
    return f"{len(skipped):,} rows skipped, {fields:,} fields dropped"


def summarise_actions(rejects: Iterable[Reject]) -> dict[str, int]:
    """As :func:`summarise`, each kind of reason with what it did (``"invalid seq: field
    dropped"``), so that a summary says which rejects cost their row."""
    counts = Counter(f"{reason_kind(reject.reason)}: {reject.action}" for reject in rejects)
    return dict(sorted(counts.items(), key=lambda kind_count: (-kind_count[1], kind_count[0])))
