"""Checks shared by every reader: field parsers and the log of rejected rows and fields.

A parser returns the clean value, None for a value that is simply absent (blank), or raises
:class:`BadValue` with a short reason when the value is present but unusable. Readers turn a
:class:`BadValue` into a :class:`~ingest.records.Reject` through :class:`RejectLog` and keep the
rest of the row whenever the row is still worth loading.

Reasons are short fixed phrases (so that :func:`ingest.rejects.summarise` can count them),
optionally followed by details in parentheses, e.g. ``"duplicate item id (first on line 12)"``.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Hashable, Iterable
from typing import Any

from graphrec.schema import id_problem
from ingest.errors import CatalogueError
from ingest.records import SPLITS, Item, Reject
from ingest.rejects import summarise

#: Longest bad value copied into a reject.
MAX_VALUE_CHARS = 200

_MARKUP = re.compile(r"<[/!?]?[A-Za-z]|<!--|/\s*>")
#: C0 and C1 control characters and DEL, never part of text worth showing, except tab, line
#: feed and carriage return, which text may hold (a title on two lines).
_TEXT_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
#: Longer names are prose, not categories (the longest real one in the shared Amazon data has
#: 53 characters).
MAX_CATEGORY_CHARS = 80
_SENTENCE_END = re.compile(r"\s[a-z][a-z'-]*[.!?]$")
#: Enough rounds of entity decoding for any text seen twice-escaped (``&amp;amp;lt;``).
_MAX_DECODINGS = 4
_RANK_TEXT = re.compile(r"\s*>?\s*#?\s*(\d[\d,]*)(?:\.0*)?(?:\s+in\b.*)?", re.DOTALL)
#: The largest whole number a graph store keeps: Neo4j's and ArcadeDB's integers are signed
#: 64-bit, and the driver refuses to send a larger one, failing the whole batch it is in.
MAX_INTEGER = 2**63 - 1


class BadValue(ValueError):
    """A field value that is present but cannot be used; ``reason`` says why."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def shorten(value: Any) -> str:
    """``value`` as text for a reject, cut to :data:`MAX_VALUE_CHARS` characters."""
    text = "" if value is None else str(value)
    return text if len(text) <= MAX_VALUE_CHARS else text[: MAX_VALUE_CHARS - 1] + "…"


class RejectLog:
    """Records the rejects of one input file into a shared list."""

    def __init__(self, file: str, rejects: list[Reject]):
        self.file = file
        self.rejects = rejects

    def skip(self, line: int, field: str, reason: str, value: Any = "") -> None:
        """Nothing of the row at ``line`` is loaded."""
        self.rejects.append(Reject(self.file, line, field, reason, shorten(value), "row skipped"))

    def drop(self, line: int, field: str, reason: str, value: Any = "") -> None:
        """The row at ``line`` is loaded without ``field``."""
        self.rejects.append(Reject(self.file, line, field, reason, shorten(value), "field dropped"))

    def cut(self, line: int, field: str, reason: str, value: Any = "") -> None:
        """The row at ``line`` is loaded with ``field`` cut short."""
        self.rejects.append(Reject(self.file, line, field, reason, shorten(value), "field cut"))

    def nothing_usable(self, what: str, empty_hint: str = "") -> CatalogueError:
        """The error for a file of which no row of kind ``what`` (``"item rows"``) survived,
        saying why: the rejects report is never written when the catalogue is refused, so the
        message carries the reasons (the first reject in full, the others by kind);
        ``empty_hint`` follows when the file holds no row at all."""
        skipped = [r for r in self.rejects if r.file == self.file and r.action == "row skipped"]
        if not skipped:
            return CatalogueError(f"no usable {what}: the file holds none{empty_hint}",
                                  file=self.file)
        first = skipped[0]
        if len(skipped) == 1:
            why = f"the only one, line {first.line}, was rejected: {first.reason}"
        else:
            kinds = ", ".join(f"{n:,} {kind}" for kind, n in summarise(skipped).items())
            why = (f"all {len(skipped):,} were rejected ({kinds}), "
                   f"the first on line {first.line}: {first.reason}")
        return CatalogueError(f"no usable {what}: {why}", file=self.file)


class FirstSeen:
    """Remembers the line on which each key was first seen, to name it in duplicate rejects."""

    def __init__(self) -> None:
        self._lines: dict[Hashable, int] = {}

    def earlier(self, key: Hashable, line: int) -> int | None:
        """The line ``key`` was first seen on, or None after recording ``line`` as its first."""
        first = self._lines.setdefault(key, line)
        return None if first == line else first


def new_id(log: RejectLog, first: FirstSeen, line: int, field: str, raw: Any,
           kind: str) -> str | None:
    """The row's key, or None after rejecting the row for a blank, invalid or repeated key.

    ``kind`` names the key in the reason ("item" gives "missing item id").
    """
    key = take_id(log, line, field, raw, kind)
    if key is None:
        return None
    if (earlier := first.earlier(key, line)) is not None:
        log.skip(line, field, f"duplicate {kind} id (first on line {earlier})", key)
        return None
    return key


def known_ids(ids: Iterable[str]) -> dict[str, str]:
    """Each of ``ids`` mapped to itself: the catalogue's one copy of an id.

    A reader parses every row's ids into strings of their own; looking each one up here and
    keeping the string found, not the row's, makes the ten million purchases of a large shop
    hold its few hundred thousand ids once each, where they held one copy a row (two ids a row
    are most of what a parsed purchase or link weighs)."""
    return {key: key for key in ids}


def take_id(log: RejectLog, line: int, field: str, raw: Any, kind: str) -> str | None:
    """An id the row needs, or None after rejecting the row for a blank or invalid one; see
    :func:`parse_id`."""
    try:
        key = parse_id(raw, kind)
    except BadValue as bad:
        log.skip(line, field, bad.reason, raw)
        return None
    if key is None:
        log.skip(line, field, f"missing {kind} id", raw)
    return key


def parse_id(raw: Any, kind: str) -> str | None:
    """An identifier without surrounding blanks; None when missing or blank.

    An id that could never be served is refused, by the rule the API applies
    (:func:`graphrec.schema.id_problem`: too long, a control character, a ``/``, ``.`` or
    ``..``), as is one that is not text or a whole number.
    """
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, (str, int)):
        raise BadValue(f"invalid {kind} id (not text)")
    text = raw.strip() if isinstance(raw, str) else str(raw)
    if not text:
        return None
    problem = id_problem(text)
    if problem:
        raise BadValue(f"invalid {kind} id ({problem})")
    return text


def clean_text(raw: Any, *, unescape: bool = False) -> str | None:
    """A text field (title, brand, category name) without surrounding blanks.

    ``unescape`` decodes HTML entities (``&amp;`` → ``&``), as raw Amazon data needs; the
    canonical CSV is already unescaped and is left as it is.

    Raises :class:`BadValue` for markup such as ``<span class="...`` or ``Magazines" />``
    where text should be, looked for after every entity is decoded (so ``&lt;script&gt;`` is
    markup too, in either format), and for a control character other than tab and line breaks
    (NUL, escape codes): the reader drops such a field rather than cleaning it, since what else
    in it was damaged cannot be told.
    """
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise BadValue("not text")
    text = html.unescape(raw) if unescape else raw
    text = text.strip()
    if not text:
        return None
    if _TEXT_CONTROL.search(text):
        raise BadValue("control character in text")
    if _MARKUP.search(decoded(text)):
        raise BadValue("HTML fragment instead of text")
    return text


def decoded(text: str) -> str:
    """``text`` with HTML entities decoded until none is left (``&amp;lt;`` → ``<``), as it
    could end up after any number of decodings downstream."""
    for _ in range(_MAX_DECODINGS):
        once = html.unescape(text)
        if once == text:
            break
        text = once
    return text


def parse_price(raw: Any) -> float | None:
    """A price in currency units from a number or text such as ``"12.99"`` or ``"$1,299.00"``."""
    if raw is None:
        return None
    if isinstance(raw, bool):
        raise BadValue("unparseable price")
    if isinstance(raw, (int, float)):
        try:
            price = float(raw)
        except OverflowError:  # an integer beyond any float: no price
            raise BadValue("unparseable price") from None
    else:
        text = str(raw).strip()
        if not text:
            return None
        try:
            price = float(text.removeprefix("$").replace(",", "").strip())
        except ValueError:
            raise BadValue("unparseable price") from None
    if not math.isfinite(price):
        raise BadValue("unparseable price")
    if price < 0:
        raise BadValue("negative price")
    return price


def parse_sales_rank(raw: Any) -> int | None:
    """A positive sales rank, at most :data:`MAX_INTEGER`.

    Accepts an integer, an integral float or its text (``"493036.0"``), Amazon 2018 text
    (``"742 in Magazine Subscriptions ("``, ``">#1,234 in Beauty (See Top 100 ..."``) or a list
    of such texts (the first non-blank one counts), and the 2014 ``salesRank`` dict
    ``{category: rank}`` (its first entry counts).
    """
    if isinstance(raw, dict):
        raw = next(iter(raw.values()), None)
    elif isinstance(raw, list):
        raw = next((part for part in raw if not (isinstance(part, str) and not part.strip())), None)
    if raw is None:
        return None
    if isinstance(raw, bool):
        raise BadValue("unparseable sales rank")
    if isinstance(raw, float):
        if not raw.is_integer():
            raise BadValue("unparseable sales rank")
        raw = int(raw)
    if isinstance(raw, int):
        rank = raw
    else:
        text = str(raw)
        if not text.strip():
            return None
        match = _RANK_TEXT.fullmatch(text)
        if match is None:
            raise BadValue("unparseable sales rank")
        try:
            rank = int(match.group(1).replace(",", ""))
        except ValueError:  # digits only: more of them than Python converts (4,300)
            raise BadValue("sales rank too large") from None
    if rank < 1:
        raise BadValue("sales rank below 1")
    if rank > MAX_INTEGER:
        raise BadValue("sales rank too large")
    return rank


def parse_categories(
    names: str | Iterable[Any], *, unescape: bool = False
) -> tuple[tuple[str, ...], str | None]:
    """One category path, root to leaf, from a list of names or from text joined by ``|``, and
    why it was cut short (None when it was taken whole).

    The path ends before the first name that is not a category: a blank, markup or control
    characters (see :func:`clean_text`), a sentence (see :func:`is_sentence`), or a name higher
    up the path (a path that comes back to a name would make a cycle). A name repeating the one
    just before it (``["Gift Cards", "Gift Cards"]``) is one level listed twice and is read once,
    so a category is never its own parent.

    Raises:
        BadValue: ``names`` is neither a list nor text.
    """
    path: list[str] = []
    for name in _category_names(names, "path"):
        try:
            clean = clean_text(name, unescape=unescape)
        except BadValue as bad:
            return tuple(path), bad.reason
        if clean is None:
            return tuple(path), "blank name"
        if is_sentence(clean):
            return tuple(path), "sentence, not a category name"
        if path and clean == path[-1]:
            continue
        if clean in path:
            return tuple(path), "repeated name"
        path.append(clean)
    return tuple(path), None


def parse_category_set(
    names: str | Iterable[Any], *, unescape: bool = False
) -> tuple[tuple[str, ...], str | None]:
    """The categories an item is in, each once, in the order given, from a list of names or
    from text joined by ``|``; and why a name was left out (None when none was).

    A set has no order to cut, so a name that is not a category (see :func:`parse_categories`)
    is left out alone and the others are kept.

    Raises:
        BadValue: ``names`` is neither a list nor text.
    """
    kept: dict[str, None] = {}
    left_out: str | None = None
    for name in _category_names(names, "set"):
        try:
            clean = clean_text(name, unescape=unescape)
        except BadValue as bad:
            left_out = left_out or bad.reason
            continue
        if clean is None:
            left_out = left_out or "blank name"
        elif is_sentence(clean):
            left_out = left_out or "sentence, not a category name"
        else:
            kept[clean] = None
    return tuple(kept), left_out


def _category_names(names: str | Iterable[Any], form: str) -> Iterable[Any]:
    """The raw names of a category field: a list as it is, text split at ``|``."""
    if isinstance(names, str):
        return names.split("|") if names.strip() else ()
    if not isinstance(names, (list, tuple)):
        raise BadValue(f"invalid category {form} (not a list)")
    return names


def is_sentence(name: str) -> bool:
    """Whether a category name is prose, as raw Amazon 2018 ``category`` lists carry after the
    real path ("No expiration, no fees."): it is longer than :data:`MAX_CATEGORY_CHARS`, or
    ends with ``.``, ``!`` or ``?`` after a lower-case word. A name that only ends with a
    full stop is a category still ("N.Y.L.A.", a brand in the Clothing data)."""
    return len(name) > MAX_CATEGORY_CHARS or _SENTENCE_END.search(name) is not None


def parse_seq(raw: Any) -> int | None:
    """A 1-based position in a user's history, at most :data:`MAX_INTEGER`; None when blank."""
    text = str(raw).strip() if raw is not None else ""
    if not text:
        return None
    try:
        seq = int(text)
    except ValueError:
        raise BadValue("invalid seq") from None
    if seq < 1:
        raise BadValue("invalid seq")
    if seq > MAX_INTEGER:
        raise BadValue("invalid seq (too large)")
    return seq


def parse_split(raw: Any) -> str:
    """One of :data:`~ingest.records.SPLITS`, ignoring case and surrounding blanks."""
    split = str(raw).strip().lower() if raw is not None else ""
    if split not in SPLITS:
        raise BadValue("invalid split")
    return split


#: How ``available`` may be written, in any case: what reads as offered, and as not.
AVAILABLE_WORDS = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}


def parse_available(raw: Any) -> bool | None:
    """Whether the shop offers an item: a boolean, or one of :data:`AVAILABLE_WORDS`; blank
    says nothing (None)."""
    if raw is None or isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if not text:
        return None
    if text not in AVAILABLE_WORDS:
        raise BadValue("invalid available (true or false)")
    return AVAILABLE_WORDS[text]


def build_item(
    log: RejectLog,
    line: int,
    item_id: str,
    *,
    title: Any = None,
    brand: Any = None,
    price: Any = None,
    sales_rank: Any = None,
    categories: str | Iterable[Any] = (),
    category_form: str = "path",
    unescape: bool = False,
    available: Any = None,
) -> Item:
    """An :class:`Item` from raw field values; each unusable field is dropped and logged.
    ``categories`` read as ``category_form`` (one of :data:`~graphrec.schema.CATEGORY_FORMS`)."""

    def field(name: str, parse, raw):
        try:
            return parse(raw)
        except BadValue as bad:
            log.drop(line, name, bad.reason, raw)
            return None

    return Item(
        id=item_id,
        title=field("title", lambda raw: clean_text(raw, unescape=unescape), title),
        brand=field("brand", lambda raw: clean_text(raw, unescape=unescape), brand),
        price=field("price", parse_price, price),
        sales_rank=field("sales_rank", parse_sales_rank, sales_rank),
        categories=_category_field(log, line, categories, category_form, unescape),
        available=field("available", parse_available, available),
    )


def _category_field(log: RejectLog, line: int, raw: str | Iterable[Any], form: str,
                    unescape: bool) -> tuple[str, ...]:
    """The item's category path or set; a path cut short is loaded as far as it goes, a set
    without the names that are not categories, and either is logged."""
    parse, what, cut_how = ((parse_category_set, "set", "name left out") if form == "set"
                            else (parse_categories, "path", "cut"))
    try:
        names, cut = parse(raw, unescape=unescape)
    except BadValue as bad:
        log.drop(line, "categories", bad.reason, raw)
        return ()
    if cut is not None and names:
        log.cut(line, "categories", f"category {what} {cut_how} ({cut})", raw)
    elif cut is not None:
        log.drop(line, "categories", f"invalid category {what} ({cut})", raw)
    return names
