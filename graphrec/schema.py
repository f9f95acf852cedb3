"""The graph's vocabulary, in one place: what an id may be.

Ingest refuses an id that the API could never serve, and the API refuses one that no
catalogue could hold, by the same rule.
"""
from __future__ import annotations

import re

#: The longest id of a user or an item.
MAX_ID_LENGTH = 100
#: Control characters (Unicode category Cc): never part of an id.
CONTROL_CHARACTERS = r"\x00-\x1f\x7f-\x9f"
#: An id as a regular expression (for the OpenAPI document): no control character.
ID_PATTERN = rf"^[^{CONTROL_CHARACTERS}]+$"
_CONTROL = re.compile(f"[{CONTROL_CHARACTERS}]")


def id_problem(text: str) -> str | None:
    """Why ``text`` cannot be an id (a short phrase), or None when it can.

    Besides length and control characters, an id must fit one segment of a URL path: no ``/``,
    and not ``.`` or ``..``, which clients resolve away before the request is sent.
    """
    if not text:
        return "empty"
    if len(text) > MAX_ID_LENGTH:
        return f"longer than {MAX_ID_LENGTH} characters"
    if _CONTROL.search(text):
        return "control character"
    if "/" in text:
        return "contains /"
    if text in (".", ".."):
        return ". or .."
    return None
