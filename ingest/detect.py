"""Which reader a catalogue needs, and reading it with that reader."""

from __future__ import annotations

from pathlib import Path

from ingest.amazon_json import DEFAULT_TEST_SHARE, find_amazon_json_files, read_amazon_json
from ingest.csv_catalogue import UPDATE_HINT, read_csv_catalogue
from ingest.errors import CatalogueError
from ingest.files import find_file
from ingest.records import Catalogue

#: Format names, as returned by :func:`detect_format` and stored in ``Catalogue.format``.
FORMATS: tuple[str, ...] = ("csv", "amazon-json")

_EXPECTED = (
    "expected a directory holding either items.csv[.gz] (with users, purchases and item_links) "
    "or one meta_*.json[.gz] metadata file and one *.json[.gz] reviews file"
)


def detect_format(path: str | Path) -> str:
    """``"csv"`` for a directory holding ``items.csv[.gz]``; ``"amazon-json"`` for one holding a
    ``meta_*.json[.gz]`` and a reviews ``*.json[.gz]``.

    Raises:
        CatalogueError: ``path`` is neither.
    """
    directory = Path(path)
    if not directory.is_dir():
        raise CatalogueError(f"not a directory; {_EXPECTED}", file=str(path))
    if find_file(directory, "items") is not None:
        return "csv"
    if any(find_file(directory, stem) for stem in ("users", "purchases", "item_links")):
        raise CatalogueError(f"required file items.csv or items.csv.gz is missing{UPDATE_HINT}",
                             file=str(path))
    try:
        find_amazon_json_files(directory)
    except CatalogueError as error:
        raise CatalogueError(f"{_EXPECTED} ({error.message})", file=str(path)) from None
    return "amazon-json"


def read_catalogue(
    path: str | Path, format: str | None = None, *, test_share: float = DEFAULT_TEST_SHARE,
    categories: str = "path", update: bool = False,
) -> Catalogue:
    """Read the catalogue in directory ``path`` with the reader for ``format`` (detected when
    None). ``test_share`` applies to raw Amazon data only, which carries no split of its own;
    ``categories="set"`` (see :data:`~graphrec.schema.CATEGORY_FORMS`) to CSV only, since raw
    Amazon data lists each item's path root→leaf. ``update``: an update of the catalogue in
    the store (:mod:`ingest.update`), in the canonical CSV only: a raw Amazon dump is a whole
    catalogue, whose split is drawn over each user's whole history.

    Raises:
        CatalogueError: the format is unknown or undetectable, the catalogue is unusable, or
            ``categories`` is ``"set"`` or ``update`` is set for raw Amazon data.
    """
    if update and format in (None, "csv"):
        return read_csv_catalogue(path, categories=categories, update=True)
    format = format or detect_format(path)
    if update:
        raise CatalogueError("an update is read from the canonical CSV (items, users, "
                             "purchases, item_links), not raw Amazon data", file=str(path))
    if format == "csv":
        return read_csv_catalogue(path, categories=categories)
    if categories != "path":
        raise CatalogueError(f"categories read as a {categories} apply to CSV catalogues; "
                             f"raw Amazon data lists each item's path", file=str(path))
    if format == "amazon-json":
        return read_amazon_json(path, test_share=test_share)
    raise CatalogueError(
        f"unknown format {format!r}; expected one of {', '.join(FORMATS)}", file=str(path)
    )
