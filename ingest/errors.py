"""The one error a reader raises: the input as a whole cannot be used."""

from __future__ import annotations


class CatalogueError(Exception):
    """A catalogue that cannot be read at all (a required file or column is missing, or no row
    of a required kind survived validation).

    Problems with single rows are never raised; readers report them as
    :class:`~ingest.records.Reject` and carry on.
    """

    def __init__(self, message: str, *, file: str | None = None, field: str | None = None):
        # One line, whatever a file name or a wrapped error carries: the CLI prints it as one.
        message = " ".join(message.splitlines())
        self.message = message
        self.file = file
        self.field = field
        where = ", ".join(part for part in (file, f"field {field!r}" if field else None) if part)
        super().__init__(f"{where}: {message}" if where else message)
