"""Every error of the API as JSON: ``{"error": {"status", "code", "message"}}``.

Pages get the same statuses as a short HTML page. An unexpected exception is logged with its
traceback here, on the server, and answered 500 without one.
"""
from __future__ import annotations

import logging

from flask import Flask, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from graphrec.store.connection import StoreUnavailable
from web.engine import ModelUnavailable, get_engine

log = logging.getLogger(__name__)


class ApiError(Exception):
    """An expected failure with its HTTP status and a stable machine-readable code."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _wants_json() -> bool:
    return request.path == "/api" or request.path.startswith("/api/")


def error_response(status: int, code: str, message: str, headers: dict | None = None):
    if _wants_json():
        response = jsonify(error={"status": status, "code": code, "message": message})
    else:
        response = render_template("error.html", status=status, message=message)
    return response, status, headers or {}


def init_app(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def api_error(exc: ApiError):
        return error_response(exc.status, exc.code, exc.message)

    @app.errorhandler(StoreUnavailable)
    def store_unavailable(exc: StoreUnavailable):
        get_engine().failed()
        log.warning("graph store unavailable: %s", exc)
        return error_response(503, "store_unavailable", "the graph store is unavailable; retry shortly",
                              {"Retry-After": str(app.config["RETRY_AFTER"])})

    @app.errorhandler(ModelUnavailable)
    def model_unavailable(exc: ModelUnavailable):
        return error_response(503, "model_unavailable", str(exc),
                              {"Retry-After": str(app.config["RETRY_AFTER"])})

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        code = (exc.name or "error").lower().replace(" ", "_")
        response = error_response(exc.code or 500, code, exc.description or exc.name)
        if exc.code == 405 and exc.valid_methods:
            response[2]["Allow"] = ", ".join(exc.valid_methods)
        return response

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, "internal_error", "internal server error")
