"""Reader for the canonical CSV catalogue: ``items``, ``users``, ``purchases`` and
``item_links``, each ``.csv`` or ``.csv.gz`` (both: the ``.gz`` one is read, and a note names
the other; see :func:`ingest.files.unpacked_copies`), UTF-8 with a header row.

Columns (extra columns are ignored; a missing optional column reads as blank):

- ``items``: ``item_id``; optional ``title``, ``brand``, ``price``, ``sales_rank``,
  ``categories`` (one path root→leaf joined by ``|``; or, read with ``categories="set"``, the
  names of the categories the item is in, in any order), ``available`` (``true``/``false``:
  whether the shop offers it now; blank: not said)
- ``users``: ``user_id``
- ``purchases``: ``user_id``, ``item_id``, ``split`` (``train``/``test``); optional ``seq``
- ``item_links`` (optional file: it may be missing or empty): ``item_id``, ``relation``
  (``also_bought``, ``also_viewed``, ``bought_together``), ``other_item_id``

Line numbers in rejects are 1-based physical lines with the header on line 1, so the first data
row is line 2 (a quoted value spanning lines counts from the row's first line).
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from itertools import chain
from pathlib import Path

from graphrec.schema import BY_NAME, CATEGORY_FORMS, LINK_RELATIONS
from ingest.errors import CatalogueError
from ingest.files import (
    Lines,
    find_file,
    gc_paused,
    open_lines,
    present_files,
    unpacked_copies,
    unpacked_note,
)
from ingest.records import Catalogue, ItemLink, Purchase, Unresolved
from ingest.validate import (
    MAX_VALUE_CHARS,
    BadValue,
    FirstSeen,
    RejectLog,
    build_item,
    known_ids,
    new_id,
    parse_seq,
    parse_split,
    shorten,
    take_id,
)

FORMAT = "csv"

#: A category name under more parents than this, read as paths, makes the reader suggest
#: reading the column as a set: real hierarchies seen here stay far below (Beauty: at most 4).
MANY_PARENTS = 10

#: The longest value read (characters): 8 times the csv module's default, far above any product
#: text seen (raw Amazon's longest title or description: some 200 KB), and bounded, since the
#: csv module holds the field it reads in 4 bytes a character. A longer value of a column that
#: is read is rejected by name; of another column, it is left out.
FIELD_LIMIT = 1 << 20
#: The longest row held (characters): a row with a value over FIELD_LIMIT is read again, whole,
#: up to this; a longer one is read on to its end keeping only the start and length of each
#: value (:class:`_RowScan`), and is skipped, or its first line rejected for a quote left open.
RUN_LIMIT = 4 * FIELD_LIMIT
#: How the csv module's error for a value over its limit begins.
_FIELD_LIMIT_ERROR = "field larger than field limit"
#: The strict csv reader's error for a file that ends within a quoted value.
_END_OF_DATA_ERROR = "unexpected end of data"
_LINE_ENDS = ("\n", "\r")

#: Columns each file must have; the other known columns are optional.
REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    "items": ("item_id",),
    "users": ("user_id",),
    "purchases": ("user_id", "item_id", "split"),
    "item_links": ("item_id", "relation", "other_item_id"),
}
OPTIONAL_COLUMNS: dict[str, tuple[str, ...]] = {
    "items": ("title", "brand", "price", "sales_rank", "categories", "available"),
    "users": (),
    "purchases": ("seq",),
    "item_links": (),
}
#: Files that must exist; ``item_links`` may be absent.
REQUIRED_FILES: tuple[str, ...] = ("items", "users", "purchases")

#: What a refused folder's error adds when the folder may be an update of the catalogue in the
#: store rather than a whole one.
UPDATE_HINT = " (to add it to the catalogue in the store: graphrec ingest --update)"

#: ``relation`` values (compared in lower case): the links' names in
#: :data:`graphrec.schema.RELATIONS` → their relationship types.
RELATIONS: dict[str, str] = {name: BY_NAME[name].type for name in LINK_RELATIONS}


def read_csv_catalogue(path: str | Path, *, categories: str = "path",
                       update: bool = False) -> Catalogue:
    """Read the CSV catalogue in directory ``path``, checking every row; each item's
    ``categories`` read as ``categories`` says (one of :data:`~graphrec.schema.CATEGORY_FORMS`).

    Unusable rows and fields become ``Catalogue.rejects``; the rest loads. Links whose
    ``other_item_id`` is outside the catalogue are kept (the loader counts them).

    ``update``: the folder adds to a catalogue already in the store (new items, new purchases,
    new links, a shop's export of the last hour): each file may be missing, empty (0 bytes) or
    hold no row, and a purchase or link naming a user or item outside the folder's own files is
    kept in ``Catalogue.unresolved`` for :func:`ingest.update.resolve` to look up in the store.

    Raises:
        CatalogueError: ``path`` is not a directory, a required file or column is missing, a
            header cannot be read, a file is not UTF-8 or is damaged gzip, or no item or no
            purchase survives validation.
    """
    directory = Path(path)
    if not directory.is_dir():
        raise CatalogueError(
            "expected a directory holding items, users, purchases and item_links (.csv or .csv.gz)",
            file=str(path),
        )
    files = {stem: find_file(directory, stem) for stem in REQUIRED_COLUMNS}
    if update and not any(files.values()):
        raise CatalogueError(
            "an update holds at least one of items, users, purchases and item_links "
            "(.csv or .csv.gz)", file=str(path))
    for stem in () if update else REQUIRED_FILES:
        if files[stem] is None:
            raise CatalogueError(
                f"required file {stem}.csv or {stem}.csv.gz is missing{UPDATE_HINT}",
                file=str(path)
            )

    if categories not in CATEGORY_FORMS:
        raise ValueError(f"categories must be one of {CATEGORY_FORMS}, not {categories!r}")
    catalogue = Catalogue(source=str(path), format=FORMAT, category_form=categories,
                          update=update)
    catalogue.notes.extend(unpacked_note(copy) for stem in REQUIRED_COLUMNS
                           for copy in unpacked_copies(present_files(directory, stem)))
    items, users, purchases, links = (files[stem] for stem in REQUIRED_COLUMNS)
    with gc_paused():
        item_ids = _read_items(items, catalogue) if items else {}
        user_ids = _read_users(users, catalogue) if users else {}
        if purchases:
            _read_purchases(purchases, catalogue, user_ids, item_ids)
        if links:
            _read_links(links, catalogue, item_ids)
    _note_category_sets(catalogue)
    return catalogue


def _note_category_sets(catalogue: Catalogue) -> None:
    """Say so when the paths put some name under more than :data:`MANY_PARENTS` parents: the
    column then most likely lists each item's category names as a set (several paths run
    together), and read as one path it would join unrelated branches."""
    parents = Counter(child for child, _ in catalogue.category_parents())
    if not parents or max(parents.values()) <= MANY_PARENTS:
        return
    name, count = parents.most_common(1)[0]
    several = sum(1 for n in parents.values() if n > 1)
    catalogue.notes.append(
        f"read as paths, {several:,} category names fall under several parents ({name!r} "
        f"under {count:,}): if the categories column lists the names an item is in rather "
        f"than one path root→leaf, read it with --categories set")


def _records(
    path: Path, stem: str, log: RejectLog, catalogue: Catalogue
) -> Iterator[tuple[int, list[str]]]:
    """``(line, values)`` for each data row, values in the order of the stem's known columns.

    Rows with the wrong number of fields, or that the csv module cannot parse, are rejected here.
    A row that ran on over the lines after it is read only when its quotes close as they should
    (:func:`_closes`) and its lines are not rows of their own (:func:`_one_row`): a quote left
    open, whichever column it opens in, makes the csv module read on up to the next quote (one
    opening a later value, or a stray one, an inch mark) or the end of the file, and such a row
    is rejected alone, its lines after the first read again as rows of their own (see
    :func:`_reject_run_on`); so is a quote left open on the file's last line. A row whose
    quotes do close is one row, however many lines it spans: read, or rejected once; one over
    :data:`RUN_LIMIT` characters is skipped with one reject naming its long value.
    """
    columns = REQUIRED_COLUMNS[stem] + OPTIONAL_COLUMNS[stem]
    with open_lines(path, keep=True) as lines, _field_limit(FIELD_LIMIT):
        reader = csv.reader(lines)
        header = _header(path, reader, lines,
                         required=stem in REQUIRED_FILES and not catalogue.update)
        if header is None:
            return
        names = [name.strip().lower() for name in header]
        for column in REQUIRED_COLUMNS[stem]:
            if column not in names:
                raise CatalogueError(
                    f"required column missing (header is {shorten(','.join(header))!r})",
                    file=str(path),
                    field=column,
                )
        width = len(header)
        id_column = REQUIRED_COLUMNS[stem][0]
        # Optional columns that are absent read from an always-blank extra slot.
        picks = [names.index(column) if column in names else width for column in columns]
        as_is = picks == list(range(width))
        read = {pick: column for pick, column in zip(picks, columns) if pick < width}
        taken = lines.taken
        taken.clear()
        end = lines.number
        while True:
            try:
                for row in reader:
                    line, end = end + 1, lines.number
                    if (end > line or row and (row[-1].endswith(_LINE_ENDS)
                                               or not taken[-1].endswith(_LINE_ENDS))) \
                            and not _is_row(taken, width):
                        # A quote left open ran on over the lines after its first, or to the
                        # end of the file (a one-line row whose last value holds the line's
                        # end, or the last line, which has none).
                        break
                    taken.clear()
                    if not row:
                        continue
                    catalogue.rows_read += 1
                    if len(row) != width:
                        log.skip(line, "", f"wrong number of fields ({len(row)}, header has "
                                 f"{width})", ",".join(row))
                    elif as_is:
                        yield line, row
                    else:
                        row.append("")
                        yield line, [row[pick] for pick in picks]
                else:
                    return
            except csv.Error as error:
                line = end + 1
                whole = _read_over_limit(lines) if _FIELD_LIMIT_ERROR in str(error) else error
                if not isinstance(whole, csv.Error) and not (
                        lines.number > line and not _one_row(taken, width)):
                    # One row, a value of it over FIELD_LIMIT.
                    end = lines.number
                    taken.clear()
                    catalogue.rows_read += 1
                    if len(whole) != width:
                        log.skip(line, "", f"wrong number of fields ({len(whole)}, header has "
                                 f"{width})", ",".join(whole))
                    elif _without_long_values(whole, read, stem, log, line):
                        whole.append("")
                        yield line, [whole[pick] for pick in picks]
                    reader = csv.reader(lines)
                    continue
                if isinstance(whole, csv.Error) and _FIELD_LIMIT_ERROR in str(whole):
                    # A value over RUN_LIMIT: too long to hold, or a quote left open.
                    first = taken[0]
                    scan = _read_long_row(lines, width)
                    catalogue.rows_read += 1
                    if scan.closed and not scan.rows:
                        log.skip(line, *_too_long(scan, header, id_column, names.index(id_column)))
                        end = lines.number
                    else:
                        log.skip(line, "", "malformed CSV row (unclosed quote)",
                                 first.rstrip("\r\n"))
                        lines.rewind(line)
                        end = line
                    reader = csv.reader(lines)
                    continue
                if lines.number == line and _END_OF_DATA_ERROR not in str(whole):
                    taken.clear()
                    end = line
                    catalogue.rows_read += 1
                    log.skip(line, "", f"malformed CSV row ({whole})")
                    reader = csv.reader(lines)
                    continue
            catalogue.rows_read += 1
            _reject_run_on(lines, log, line)
            end = line
            reader = csv.reader(lines)


@contextmanager
def _field_limit(limit: int) -> Iterator[None]:
    """The csv module's longest field set to ``limit`` meanwhile (it is one for the process)."""
    was = csv.field_size_limit(limit)
    try:
        yield
    finally:
        csv.field_size_limit(was)


def _is_row(rows_lines: Sequence[str], width: int) -> bool:
    """Whether the lines of one row, as the lenient csv reader read it, are one row: its quotes
    close as they should (:func:`_closes`), and when it spans lines, they are not rows of their
    own (:func:`_one_row`)."""
    return _closes(rows_lines) and (len(rows_lines) == 1 or _one_row(rows_lines, width))


def _one_row(rows_lines: Sequence[str], width: int) -> bool:
    """Whether a row that spans several lines, its quotes closing as the strict csv reader
    wants, is one row as a writer of CSV writes it (a quoted value holding line breaks) rather
    than rows of their own: a row with a quote left open (``"Hair Dryer``) and the rows after
    it, up to the one with a stray quote (an inch mark, ``Mirror 12"``) that the csv module
    took for the first one's close. Those are rows of the header's ``width`` each, so the
    lines are taken for rows when the first, its open quote taken as text, has ``width``
    fields, more than half of the others too, and none of them, read alone, leaves a quote
    open (a value that ends with a line break leaves its closing quote at a line's start);
    the lines of a value seldom all look so, and the first alone rules out most values."""
    shape = _RunShape(width, rows_lines[0])
    for text in rows_lines[1:]:
        shape.add(text)
    return not shape.rows


def _own_width(line: str) -> tuple[int, bool]:
    """How many fields ``line`` holds read as a row of its own, as the lenient csv reader reads
    it but with a quote it leaves open taken as text (the commas after it part fields); and
    whether it leaves one open."""
    body = line.rstrip("\r\n")
    if '"' not in body:
        return (body.count(",") + 1 if body else 0), False
    fields = pos = 0
    while True:
        fields += 1
        if body.startswith('"', pos):
            start = pos
            pos += 1
            while True:
                quote = body.find('"', pos)
                if quote < 0:
                    return fields + body.count(",", start), True
                if not body.startswith('"', quote + 1):
                    pos = quote + 1
                    break
                pos = quote + 2
        comma = body.find(",", pos)
        if comma < 0:
            return fields, False
        pos = comma + 1


class _RunShape:
    """What :func:`_one_row` counts of the lines of a row that spans several: whether its
    first line, its open quote taken as text, has the header's ``width`` of fields; how many
    of the others do; whether any of them alone leaves a quote open. Counted a line at a time,
    for a row too long to hold."""

    def __init__(self, width: int, first: str) -> None:
        self.width = width
        self.first_fits = _own_width(first)[0] == width
        self.lines = self.fits = 0
        self.opens = False

    def add(self, line: str) -> None:
        fields, opens = _own_width(line)
        self.lines += 1
        self.fits += fields == self.width
        self.opens = self.opens or opens

    @property
    def rows(self) -> bool:
        """Whether the lines are rows of their own rather than one row (see :func:`_one_row`);
        never for one line."""
        return self.first_fits and not self.opens and 2 * self.fits > self.lines


class _RowScan:
    """One row read as the strict csv reader reads it, a line at a time, keeping of each of its
    first ``keep`` values only its length and start: a row too long to hold read to its end.
    After the line that ends it, :attr:`closed` says whether it ends as a row should (not
    within a quoted value, nor at a quote followed by other text), :attr:`rows` whether its
    lines are rows of their own (see :class:`_RunShape`)."""

    def __init__(self, keep: int) -> None:
        self.keep = keep
        #: (length, start) of the first ``keep`` values.
        self.values: list[tuple[int, str]] = []
        #: (position, length, start) of the longest value.
        self.longest: tuple[int, int, str] = (0, -1, "")
        self.closed = False
        self.rows = False
        self._count = 0
        self._size = 0
        self._head = ""
        self._quoted = False  # within a quoted value
        self._start = True  # at a value's start

    def feed(self, line: str) -> bool:
        """Read ``line``, the row's next; True when the row is over (closed, or not)."""
        body = len(line.rstrip("\r\n"))
        pos = 0
        while True:
            if self._quoted:
                quote = line.find('"', pos)
                if quote < 0:
                    self._add(line, pos, len(line))
                    return False
                self._add(line, pos, quote)
                if line.startswith('"', quote + 1):  # a quote written twice: one quote
                    self._add(line, quote, quote + 1)
                    pos = quote + 2
                    continue
                self._quoted = False
                if line.startswith(",", quote + 1):
                    self._end()
                    pos, self._start = quote + 2, True
                    continue
                self.closed = quote + 1 >= body  # else text after the closing quote
                if self.closed:
                    self._end()
                return True
            if self._start:
                if pos >= body:  # the line's end: a blank line, or a blank last value
                    if self._count:
                        self._end()
                    self.closed = True
                    return True
                self._start = False
                if line.startswith('"', pos):
                    self._quoted = True
                    pos += 1
                    continue
            comma = line.find(",", pos, body)
            self._add(line, pos, body if comma < 0 else comma)
            self._end()
            if comma < 0:
                self.closed = True
                return True
            pos, self._start = comma + 1, True

    def _add(self, line: str, start: int, end: int) -> None:
        self._size += end - start
        if (room := MAX_VALUE_CHARS + 1 - len(self._head)) > 0:
            self._head += line[start:min(end, start + room)]

    def _end(self) -> None:
        if self._count < self.keep:
            self.values.append((self._size, self._head))
        if self._size > self.longest[1]:
            self.longest = (self._count, self._size, self._head)
        self._count += 1
        self._size, self._head = 0, ""


def _read_long_row(lines: Lines, width: int) -> _RowScan:
    """The row that began with :attr:`Lines.taken`, a value of it over :data:`RUN_LIMIT`,
    read on to its end (or the file's) keeping none of its lines after those taken."""
    held = list(lines.taken)
    lines.taken.clear()
    scan, shape = _RowScan(width), _RunShape(width, held[0])
    for index, text in enumerate(chain(held, lines)):
        lines.taken.clear()
        if index:
            shape.add(text)
        if scan.feed(text):
            break
    scan.rows = shape.rows
    return scan


def _too_long(scan: _RowScan, header: Sequence[str], id_column: str,
              id_at: int) -> tuple[str, str, str]:
    """``(field, reason, value)`` of the reject of a row skipped for a value over
    :data:`RUN_LIMIT` (see :func:`_read_long_row`): the longest value, by its column's name,
    and the row's id where it can be told."""
    at, size, head = scan.longest
    reason = f"value too long ({size:,} characters, at most {FIELD_LIMIT:,}"
    if at != id_at and id_at < len(scan.values) and 0 < scan.values[id_at][0] <= MAX_VALUE_CHARS:
        reason += f"; {id_column} {scan.values[id_at][1]}"
    field = header[at].strip() if at < len(header) else ""
    return field, reason + ")", head


def _closes(rows_lines: Sequence[str]) -> bool:
    """Whether the lines of one row, as the lenient csv reader read it, are one row whose
    quotes close as they should: each quoted value ends at a quote followed by a comma or the
    line's end. A quote left open does not: it runs on to the end of the file, or to the next
    quote in it (the opening one of a later value, followed by that value's text), and the
    strict reader refuses either."""
    try:
        return sum(1 for _ in csv.reader(rows_lines, strict=True)) == 1
    except csv.Error:
        return False


def _read_over_limit(lines: Lines) -> list[str] | csv.Error:
    """The row that began with :attr:`Lines.taken` and that the csv module gave up on, a value of
    it being over :data:`FIELD_LIMIT`, read again, strictly, up to :data:`RUN_LIMIT` (the lines
    after those taken are taken too), or the error that shows its quotes do not close as they
    should (see :func:`_closes`) within that, or that a value of it is longer."""
    reader = csv.reader(chain(list(lines.taken), lines), strict=True)
    with _field_limit(RUN_LIMIT):
        try:
            return next(reader)
        except csv.Error as error:
            return error


def _without_long_values(row: list[str], read: dict[int, str], stem: str, log: RejectLog,
                         line: int) -> bool:
    """Blank each value of ``row`` over :data:`FIELD_LIMIT`; False when the row cannot load
    without it (a required column's), rejected. ``read``: the columns read, by position. A
    value of a column that is not read costs nothing; one that is read is named in a reject:
    the row is skipped for a required column, else loads without that field."""
    for index, value in enumerate(row):
        if len(value) <= FIELD_LIMIT:
            continue
        column = read.get(index)
        reason = f"value too long ({len(value):,} characters, at most {FIELD_LIMIT:,})"
        if column in REQUIRED_COLUMNS[stem]:
            log.skip(line, column, reason, value)
            return False
        if column is not None:
            log.drop(line, column, reason, value)
        row[index] = ""
    return True


def _reject_run_on(lines: Lines, log: RejectLog, line: int) -> None:
    """Reject the row that began on ``line`` and ran on over the lines after it (all of them
    in :attr:`Lines.taken`), yet is no row: its quotes do not close as they should
    (:func:`_closes`), or its lines are rows of their own (:func:`_one_row`). Its first line is
    rejected for an unclosed quote, and the others are read again.

    A quote left open makes the csv module read on, field separators and line ends included,
    up to the next quote (the opening one of a later row) or the end of the file: without
    this, every good row in between would be lost with no reject of its own.
    """
    first, *rest = lines.taken
    log.skip(line, "", "malformed CSV row (unclosed quote)", first.rstrip("\r\n"))
    lines.read_again(rest)
    lines.taken.clear()


def _header(path: Path, reader: Iterator[list[str]], lines: Lines, *,
            required: bool) -> list[str] | None:
    """The header row, which is one line; None for an empty file that is not ``required``
    (a file that may be missing may hold nothing), else an empty file cannot be read."""
    try:
        header = next(reader, None)
    except csv.Error as error:
        if lines.number > 1:
            raise _header_run_on(path) from None
        raise CatalogueError(f"unreadable header row ({error})", file=str(path)) from None
    if lines.number > 1:
        raise _header_run_on(path)
    if header is None and required:
        raise CatalogueError("empty file, expected a header row", file=str(path))
    return header


def _header_run_on(path: Path) -> CatalogueError:
    """The error for a header that runs on past line 1: a quote left open in it."""
    return CatalogueError("unreadable header row (a quote opened on line 1 is not closed on it)",
                          file=str(path))


def _read_items(path: Path, catalogue: Catalogue) -> dict[str, str]:
    log = RejectLog(str(path), catalogue.rejects)
    first = FirstSeen()
    for line, (raw_id, title, brand, price, sales_rank, categories, available) in _records(
        path, "items", log, catalogue
    ):
        item_id = new_id(log, first, line, "item_id", raw_id, "item")
        if item_id is None:
            continue
        catalogue.items.append(
            build_item(
                log,
                line,
                item_id,
                title=title,
                brand=brand,
                price=price,
                sales_rank=sales_rank,
                categories=categories,
                category_form=catalogue.category_form,
                available=available,
            )
        )
    if not catalogue.items and not catalogue.update:
        raise log.nothing_usable("item rows")
    return known_ids(item.id for item in catalogue.items)


def _read_users(path: Path, catalogue: Catalogue) -> dict[str, str]:
    log = RejectLog(str(path), catalogue.rejects)
    first = FirstSeen()
    for line, (raw_id,) in _records(path, "users", log, catalogue):
        user_id = new_id(log, first, line, "user_id", raw_id, "user")
        if user_id is None:
            continue
        catalogue.users.append(user_id)
    return known_ids(catalogue.users)


def _read_purchases(
    path: Path, catalogue: Catalogue, user_ids: dict[str, str], item_ids: dict[str, str]
) -> None:
    log = RejectLog(str(path), catalogue.rejects)
    first = FirstSeen()
    for line, (raw_user, raw_item, raw_split, raw_seq) in _records(
        path, "purchases", log, catalogue
    ):
        user_id = take_id(log, line, "user_id", raw_user, "user")
        if user_id is None:
            continue
        item_id = take_id(log, line, "item_id", raw_item, "item")
        if item_id is None:
            continue
        try:
            split = parse_split(raw_split)
        except BadValue as bad:
            log.skip(line, "split", bad.reason, raw_split)
            continue
        known_user, known_item = user_ids.get(user_id), item_ids.get(item_id)
        if not catalogue.update and known_user is None:
            log.skip(line, "user_id", "user not in users file", user_id)
            continue
        if not catalogue.update and known_item is None:
            log.skip(line, "item_id", "item not in catalogue", item_id)
            continue
        user_id, item_id = known_user or user_id, known_item or item_id
        if (earlier := first.earlier((user_id, item_id), line)) is not None:
            log.skip(
                line,
                "item_id",
                f"duplicate purchase (first on line {earlier})",
                f"{user_id},{item_id}",
            )
            continue
        try:
            seq = parse_seq(raw_seq)
        except BadValue as bad:
            log.drop(line, "seq", bad.reason, raw_seq)
            seq = None
        purchase = Purchase(user_id, item_id, seq, split)
        if known_user is None or known_item is None:  # an update's: the store may hold them
            catalogue.unresolved.append(Unresolved(purchase, str(path), line))
        else:
            catalogue.purchases.append(purchase)
    if not catalogue.purchases and not catalogue.update:
        raise log.nothing_usable("purchase rows", UPDATE_HINT)


def _read_links(path: Path, catalogue: Catalogue, item_ids: dict[str, str]) -> None:
    log = RejectLog(str(path), catalogue.rejects)
    first_line: dict[tuple[str, str, str], int] = {}
    links = catalogue.links
    for line, (raw_item, raw_relation, raw_other) in _records(path, "item_links", log, catalogue):
        item_id = take_id(log, line, "item_id", raw_item, "item")
        if item_id is None:
            continue
        relation = RELATIONS.get(raw_relation) or RELATIONS.get(raw_relation.strip().lower())
        if relation is None:
            log.skip(line, "relation", "unknown relation", raw_relation)
            continue
        other_id = take_id(log, line, "other_item_id", raw_other, "other item")
        if other_id is None:
            continue
        known_item = item_ids.get(item_id)
        if known_item is None and not catalogue.update:
            log.skip(line, "item_id", "item not in catalogue", item_id)
            continue
        item_id, other_id = known_item or item_id, item_ids.get(other_id, other_id)
        key = (item_id, relation, other_id)
        if (earlier := first_line.setdefault(key, line)) != line:
            log.skip(line, "other_item_id", f"duplicate link (first on line {earlier})", other_id)
            continue
        link = ItemLink(item_id, relation, other_id)
        if known_item is None:  # an update's: the store may hold the item
            catalogue.unresolved.append(Unresolved(link, str(path), line))
        else:
            links.append(link)
