"""Every error of the API as JSON: ``{"error": {"status", "code", "message"}}``.

Pages get the same statuses as a short HTML page. An unexpected exception is logged with its
traceback here, on the server, and answered 500 without one; a store or model that is not
there, or a store that says a query failed for a passing reason (Neo4j's ``TransientError``),
is 503 with ``Retry-After``, logged with its cause (an address, a folder, the store's code) and
answered with a generic message: what the server knows about its own layout stays in its log.
"""
from __future__ import annotations

import logging

from flask import Flask, Response, jsonify, render_template, request
from pydantic import ValidationError
from werkzeug.exceptions import HTTPException

from graphrec.schema import ID_RULE
from graphrec.serving.recommend import ItemNotReady
from graphrec.store.connection import StoreUnavailable, TransientError
from web.engine import ModelUnavailable, get_engine
from web.schemas import (
    MAX_K,
    AvailabilityIn,
    CatalogueItemPath,
    EventIn,
    ExplanationQuery,
    ItemPath,
    RecommendationsQuery,
)

log = logging.getLogger(__name__)


class ApiError(Exception):
    """An expected failure with its HTTP status and a stable machine-readable code."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _wants_json() -> bool:
    return request.path == "/api" or request.path.startswith("/api/")


def error_response(status: int, code: str, message: str, headers: dict | None = None
                   ) -> tuple[Response | str, int, dict]:
    response: Response | str
    if _wants_json():
        response = jsonify(error={"status": status, "code": code, "message": message})
    else:
        response = render_template("error.html", status=status, message=message)
    return response, status, headers or {}


# What a client is told about an input that fails validation, by field; others get pydantic's.
INVALID = {
    "user_id": f"the user id must be {ID_RULE}",
    "item_id": f"the item id must be {ID_RULE}",
    "k": f"k must be an integer from 1 to {MAX_K}",
    "format": "format must be json or graphml",
}

#: The fields of the requests' paths, queries and bodies (:mod:`web.schemas`): the only names
#: an error code is made from (``invalid_<field>``), so that the codes are a fixed set a client
#: can dispatch on, never a name the client chose.
FIELDS = frozenset().union(*(model.model_fields for model in (
    ItemPath, CatalogueItemPath, RecommendationsQuery, ExplanationQuery, EventIn,
    AvailabilityIn)))

#: The most characters of a field's name a message quotes: a body may name any field, as long
#: as the body may be (4 KiB), and the answer need not repeat it.
NAME_CHARS = 40


def shortened(name: str) -> str:
    """``name`` as a message quotes it: its first :data:`NAME_CHARS` characters."""
    return name if len(name) <= NAME_CHARS else f"{name[:NAME_CHARS]}…"


def validation_error(exc: ValidationError) -> Response:
    """The 400 answer for a request whose path, query or body fails its model (see
    web.schemas): code ``invalid_<field>`` of the first field that failed, or
    ``invalid_body`` for a field the body does not take, whose name (shortened) the message
    says: a code made from it was one the client chose, as long as the body."""
    first = exc.errors()[0]
    field = str(first["loc"][0]) if first["loc"] else ""
    if first["type"] == "extra_forbidden" or field not in FIELDS:
        code, message = "invalid_body", f"{shortened(field)}: not a field of this body"
    else:
        code, message = f"invalid_{field}", INVALID.get(field, f"{field}: {first['msg']}")
    response = jsonify(error={"status": 400, "code": code, "message": message})
    response.status_code = 400
    return response


def init_app(app: Flask) -> None:
    def retry_later(code: str, message: str) -> tuple[Response | str, int, dict]:
        """503 with the ``Retry-After`` the server is configured with."""
        return error_response(503, code, f"{message}; retry shortly",
                              {"Retry-After": str(app.config["RETRY_AFTER"])})

    @app.errorhandler(ApiError)
    def api_error(exc: ApiError):
        return error_response(exc.status, exc.code, exc.message)

    @app.errorhandler(StoreUnavailable)
    def store_unavailable(exc: StoreUnavailable):
        get_engine().failed()
        log.warning("graph store unavailable: %s", exc)
        return retry_later("store_unavailable", "the graph store is unavailable")

    @app.errorhandler(TransientError)
    def store_busy(exc: TransientError):
        # A failure Neo4j says the same request may not meet again (a deadlock, a leader
        # switch in a cluster, its memory pool full for a moment): 503, never the 500 of a
        # fault, and one line with the store's code in the log instead of a traceback.
        log.warning("graph store busy on %s %s: %s %s", request.method, request.path,
                    type(exc).__name__, exc.code)
        return retry_later("store_busy", "the graph store could not answer this time")

    @app.errorhandler(ItemNotReady)
    def item_not_ready(exc: ItemNotReady):
        return retry_later("item_not_ready", "the item was added to the catalogue moments ago "
                                             "and this server is taking it in")

    @app.errorhandler(ModelUnavailable)
    def model_unavailable(exc: ModelUnavailable):
        log.warning("model unavailable: %s", exc)
        return retry_later("model_unavailable", exc.public)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        code = (exc.name or "error").lower().replace(" ", "_")
        response = error_response(exc.code or 500, code, exc.description or exc.name)
        allowed = getattr(exc, "valid_methods", None)  # MethodNotAllowed's
        if exc.code == 405 and allowed:
            response[2]["Allow"] = ", ".join(allowed)
        return response

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, "internal_error", "internal server error")
