"""Reader for raw Amazon review data: a reviews file and a metadata file, one object per line,
plain or gzipped, in the 2018 format (J. Ni et al.) or the 2014 one (J. McAuley et al.).

Metadata, 2018: ``asin``, ``title``, ``brand``, ``price`` (text such as ``"$12.99"``), ``rank``
(text or list of texts), ``category`` (list, root→leaf), ``also_buy``, ``also_view``.
Metadata, 2014: lines are Python dict literals (single quotes), read with :func:`ast.literal_eval`
when they are not JSON; ``price`` is a number, ``salesRank`` is ``{category: rank}``,
``categories`` is a list of paths of which the **first** is taken (it is the path in the dump's
own category, so one catalogue keeps one root), and ``related`` holds ``also_bought``,
``also_viewed`` and ``bought_together``. Text is HTML-unescaped (``&amp;`` → ``&``).

Reviews (both formats): ``reviewerID``, ``asin``, ``unixReviewTime`` (or ``reviewTime``,
``"MM DD, YYYY"``, when the former is missing). Each usable review is one purchase; users are the
reviewers with at least one usable review. Raw data has no train/test split, so one is made per
user from time order: see :func:`held_out_count`.

Line numbers in rejects are 1-based lines of the file named.
"""

from __future__ import annotations

import ast
import json
import math
import re
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

from graphrec.schema import BY_NAME, LINK_RELATIONS
from ingest.errors import CatalogueError
from ingest.files import gc_paused, open_lines, unpacked_copies, unpacked_note
from ingest.records import Catalogue, ItemLink, Purchase
from ingest.validate import (
    BadValue,
    FirstSeen,
    RejectLog,
    build_item,
    known_ids,
    new_id,
    parse_id,
    take_id,
)

FORMAT = "amazon-json"

#: Share of each user's purchases, the latest ones, that go to the test split.
DEFAULT_TEST_SHARE = 0.3

#: Link fields of both formats → link types: the 2014 files name them as
#: :data:`graphrec.schema.LINK_RELATIONS` does (under ``related``), the 2018 ones ``also_buy``
#: and ``also_view``.
LINK_FIELDS: dict[str, str] = {
    "also_buy": BY_NAME["also_bought"].type,
    "also_view": BY_NAME["also_viewed"].type,
    **{name: BY_NAME[name].type for name in LINK_RELATIONS},
}

_META_NAME = re.compile(r"meta_.+\.json(\.gz)?")
_JSON_NAME = re.compile(r".+\.json(\.gz)?")
_LITERAL_ERRORS = (ValueError, SyntaxError, TypeError, MemoryError, RecursionError)
#: What :func:`_parse_line` returns for a line that is neither JSON nor a Python literal.
_UNPARSEABLE = object()


class AmazonFiles(NamedTuple):
    """The files of a raw Amazon catalogue, and those left out of it."""

    reviews: Path
    meta: Path
    #: Uncompressed copies of files read gzipped (see :func:`find_amazon_json_files`).
    ignored: tuple[Path, ...] = ()


def find_amazon_json_files(directory: str | Path) -> AmazonFiles:
    """The one ``meta_*.json[.gz]`` and the one other ``*.json[.gz]`` in ``directory``.

    Where both ``X.json`` and ``X.json.gz`` are present (as a download next to its unpacked
    copy), the ``.gz`` one is read and the other listed in ``ignored``
    (:func:`~ingest.files.unpacked_copies`).

    Raises:
        CatalogueError: either file is missing or ambiguous.
    """
    found = sorted(
        p for p in Path(directory).iterdir() if p.is_file() and _JSON_NAME.fullmatch(p.name)
    )
    ignored = unpacked_copies(found)
    files = [p for p in found if p not in ignored]
    metas = [p for p in files if _META_NAME.fullmatch(p.name)]
    reviews = [p for p in files if not _META_NAME.fullmatch(p.name)]
    for kind, chosen, pattern in (
        ("metadata", metas, "meta_*.json[.gz]"),
        ("reviews", reviews, "*.json[.gz]"),
    ):
        if len(chosen) != 1:
            listed = ", ".join(p.name for p in chosen) or "none"
            raise CatalogueError(
                f"expected exactly one {kind} file {pattern}, found {listed}", file=str(directory)
            )
    return AmazonFiles(reviews[0], metas[0], ignored)


def read_amazon_json(path: str | Path, *, test_share: float = DEFAULT_TEST_SHARE) -> Catalogue:
    """Read the reviews and metadata files found in directory ``path``; see
    :func:`read_amazon_json_files`."""
    if not Path(path).is_dir():
        raise CatalogueError(
            "expected a directory holding meta_*.json[.gz] and a reviews file", file=str(path)
        )
    files = find_amazon_json_files(path)
    catalogue = read_amazon_json_files(
        files.reviews, files.meta, test_share=test_share, source=str(path)
    )
    catalogue.notes.extend(unpacked_note(p) for p in files.ignored)
    return catalogue


def read_amazon_json_files(
    reviews_path: str | Path,
    meta_path: str | Path,
    *,
    test_share: float = DEFAULT_TEST_SHARE,
    source: str | None = None,
) -> Catalogue:
    """Read one reviews file and one metadata file into a :class:`Catalogue`.

    Args:
        reviews_path: reviews, one JSON object a line, optionally gzipped.
        meta_path: metadata, one JSON object or Python dict literal a line, optionally gzipped.
        test_share: share of each user's purchases, the latest, put in the ``test`` split
            (default 0.3); see :func:`held_out_count`.
        source: what to record as ``Catalogue.source`` (default: the metadata path).

    Raises:
        ValueError: ``test_share`` is outside ``[0, 1)``.
        CatalogueError: a file is missing, not UTF-8 or damaged gzip, or no item or no
            purchase is usable.
    """
    if not 0 <= test_share < 1:
        raise ValueError(f"test_share must be in [0, 1), got {test_share}")
    for file in (reviews_path, meta_path):
        if not Path(file).is_file():
            raise CatalogueError("file not found", file=str(file))
    catalogue = Catalogue(source=source or str(meta_path), format=FORMAT)
    with gc_paused():
        item_ids = _read_metadata(Path(meta_path), catalogue)
        _read_reviews(Path(reviews_path), catalogue, item_ids, test_share)
    return catalogue


def held_out_count(n: int, test_share: float = DEFAULT_TEST_SHARE) -> int:
    """How many of a user's ``n`` purchases, the latest ones, go to the test split.

    ``test_share * n`` rounded half up, then at least 1 when ``n >= 2`` and ``test_share > 0``,
    and at most ``n - 1`` so that every user keeps a training purchase. With the default 0.3:
    1 → 0, 2 → 1, 5 → 2, 10 → 3.
    """
    if n < 2 or test_share <= 0:
        return 0
    return min(max(math.floor(test_share * n + 0.5), 1), n - 1)


def _json_lines(
    path: Path, log: RejectLog, catalogue: Catalogue
) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line, object)`` for each non-blank line that holds an object; the rest is rejected."""
    with open_lines(path, newline="\n") as lines:
        for text in lines:
            line = lines.number
            text = text.strip()
            if not text:
                continue
            catalogue.rows_read += 1
            record = _parse_line(text)
            if record is _UNPARSEABLE:
                log.skip(line, "", "unparseable line", text)
            elif not isinstance(record, dict):
                log.skip(line, "", "not an object", text)
            else:
                yield line, record


def _parse_line(text: str) -> Any:
    """The value on one line: JSON, else a Python literal (2014 metadata); :data:`_UNPARSEABLE`
    when it is neither."""
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        pass
    try:
        with warnings.catch_warnings():
            # Python's parser warns about odd text ("1st") it is shown; the line is rejected.
            warnings.simplefilter("ignore", SyntaxWarning)
            return ast.literal_eval(text)
    except _LITERAL_ERRORS:
        return _UNPARSEABLE


def _category_path(record: dict[str, Any]) -> Any:
    """The raw category path: 2018 ``category``, else the first path of 2014 ``categories``."""
    if "category" in record:
        return record["category"] or ()
    paths = record.get("categories") or ()
    if isinstance(paths, list) and paths and isinstance(paths[0], list):
        return paths[0]
    return paths


def _link_lists(record: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    """``(field, raw list)`` for each link field present, 2018 top-level or 2014 ``related``."""
    related = record.get("related")
    for source in (record, related if isinstance(related, dict) else {}):
        for name in LINK_FIELDS:
            if name in source:
                yield name, source[name]


def _read_metadata(path: Path, catalogue: Catalogue) -> dict[str, str]:
    log = RejectLog(str(path), catalogue.rejects)
    first = FirstSeen()
    for line, record in _json_lines(path, log, catalogue):
        item_id = new_id(log, first, line, "asin", record.get("asin"), "item")
        if item_id is None:
            continue
        catalogue.items.append(
            build_item(
                log,
                line,
                item_id,
                title=record.get("title"),
                brand=record.get("brand"),
                price=record.get("price"),
                sales_rank=record.get("rank", record.get("salesRank")),
                categories=_category_path(record),
                unescape=True,
            )
        )
        _add_links(log, line, item_id, record, catalogue.links)
    if not catalogue.items:
        raise log.nothing_usable("item lines")
    return known_ids(item.id for item in catalogue.items)


def _add_links(
    log: RejectLog, line: int, item_id: str, record: dict[str, Any], links: list[ItemLink]
) -> None:
    """The item's links; a blank or repeated other item is dropped from its list."""
    seen: set[tuple[str, str]] = set()
    for name, others in _link_lists(record):
        if others is None or others == "":
            continue
        if not isinstance(others, list):
            log.drop(line, name, "not a list", others)
            continue
        relation = LINK_FIELDS[name]
        for raw_other in others:
            try:
                other_id = parse_id(raw_other, "other item") if isinstance(raw_other, str) else None
            except BadValue as bad:
                log.drop(line, name, bad.reason, raw_other)
                continue
            if other_id is None:
                log.drop(line, name, "missing other item id", raw_other)
            elif (relation, other_id) in seen:
                log.drop(line, name, "duplicate link", other_id)
            else:
                seen.add((relation, other_id))
                links.append(ItemLink(item_id, relation, other_id))


def _review_time(record: dict[str, Any]) -> float | None:
    """Seconds since the epoch from ``unixReviewTime``, else ``reviewTime``; None if neither.

    A ``unixReviewTime`` that is not a number, or one beyond any float, counts as absent.
    """
    raw = record.get("unixReviewTime")
    try:
        if isinstance(raw, (int, float)) and not isinstance(raw, bool) and math.isfinite(raw):
            return float(raw)
        if isinstance(raw, str):
            return float(int(raw.strip()))
    except (ValueError, OverflowError):
        pass
    text = record.get("reviewTime")
    if isinstance(text, str):
        try:
            return datetime.strptime(text.strip(), "%m %d, %Y").replace(tzinfo=UTC).timestamp()
        except ValueError:
            pass
    return None


def _read_reviews(
    path: Path, catalogue: Catalogue, item_ids: dict[str, str], test_share: float
) -> None:
    log = RejectLog(str(path), catalogue.rejects)
    first = FirstSeen()
    histories: dict[str, list[tuple[float, int, str]]] = {}
    for line, record in _json_lines(path, log, catalogue):
        user_id = take_id(log, line, "reviewerID", record.get("reviewerID"), "user")
        if user_id is None:
            continue
        item_id = take_id(log, line, "asin", record.get("asin"), "item")
        if item_id is None:
            continue
        if (known_item := item_ids.get(item_id)) is None:
            log.skip(line, "asin", "item not in catalogue", item_id)
            continue
        item_id = known_item
        time = _review_time(record)
        if time is None:
            log.skip(line, "unixReviewTime", "missing review time", record.get("unixReviewTime"))
            continue
        if (earlier := first.earlier((user_id, item_id), line)) is not None:
            log.skip(
                line,
                "asin",
                f"duplicate purchase (first on line {earlier})",
                f"{user_id},{item_id}",
            )
            continue
        histories.setdefault(user_id, []).append((time, line, item_id))
    if not histories:
        raise log.nothing_usable("review lines")
    for user_id, history in histories.items():
        history.sort()
        n_train = len(history) - held_out_count(len(history), test_share)
        catalogue.users.append(user_id)
        catalogue.purchases.extend(
            Purchase(user_id, item_id, seq, "train" if seq <= n_train else "test")
            for seq, (_, _, item_id) in enumerate(history, start=1)
        )
