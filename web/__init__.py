"""The HTTP service: recommendations and their reasons as JSON, and a page that draws them.

Gunicorn's target is ``web:create_app()``; ``graphrec serve`` runs it (see :mod:`web.serve`).
"""
from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from typing import Any

from flask import Flask
from flask.json.provider import DefaultJSONProvider
from flask_openapi3 import Info, OpenAPI
from werkzeug.routing import BaseConverter

from graphrec.config import Settings


class AnyIdConverter(BaseConverter):
    """One path segment, possibly empty, so that an empty id is answered 400 rather than 404."""

    regex = "[^/]*"


INFO = Info(title="graphrec", version="1",
            description="Explainable product recommendations from a knowledge graph: each "
                        "recommendation comes with its reasons as paths in the graph.")


def settings_config(settings: Settings) -> dict[str, Any]:
    """The Flask config keys that come from graphrec's :class:`~graphrec.config.Settings`."""
    return {"RETRY_AFTER": settings.retry_after,
            "CATALOGUE_CHECK_INTERVAL": settings.catalogue_check_interval,
            "REASON_CACHE_SIZE": settings.reason_cache_size,
            "MODEL_CHECK_INTERVAL": settings.model_check_interval}


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """The app: its API's OpenAPI document is generated from the routes' typed models
    (flask-openapi3, see :mod:`web.api`) and served at ``/api/openapi.json`` only.

    The service's settings come from ``test_config["SETTINGS"]`` when given, else from the
    environment (:meth:`Settings.from_env`); ``test_config`` may override single keys."""
    from web.errors import validation_error
    from web.schemas import Error

    app = OpenAPI(__name__, info=INFO, doc_ui=False, validation_error_status=400,
                  validation_error_model=Error, validation_error_callback=validation_error,
                  security_schemes={"bearer": {
                      "type": "http", "scheme": "bearer",
                      "description": "the server's GRAPHREC_API_TOKEN (writes only)"}})
    settings = (test_config or {}).get("SETTINGS") or Settings.from_env()
    app.config.from_mapping(
        SETTINGS=settings,
        API_TOKEN=None,  # the bearer token of the write endpoints; None: writes are disabled
        SECRET_KEY=None,  # signs the page's session cookie (its CSRF token); see web.pages
        SESSION_COOKIE_SAMESITE="Lax",
    )
    app.config.from_prefixed_env("GRAPHREC")
    app.config.from_mapping(settings_config(settings))  # as Settings reads them, not as JSON
    # Secrets verbatim: from_prefixed_env would read a token "1e5" as 100000.0.
    for secret in ("API_TOKEN", "SECRET_KEY"):
        if f"GRAPHREC_{secret}" in os.environ:
            app.config[secret] = os.environ[f"GRAPHREC_{secret}"]
    if test_config is not None:
        app.config.from_mapping(test_config)
    if not app.config["SECRET_KEY"]:
        # Kept by this process only: a page served by one process posts its form to another
        # under gunicorn, so gunicorn.conf.py sets one key for all workers when none is given.
        app.config["SECRET_KEY"] = secrets.token_bytes(32)
    app.debug = False
    assert isinstance(app.json, DefaultJSONProvider)
    app.json.sort_keys = False
    app.url_map.converters["anyid"] = AnyIdConverter
    app.url_map.merge_slashes = False

    from web import api, engine, errors, headers, pages

    # Every body the app takes is a small write. A chunked one has no length to refuse it by
    # (gunicorn marks such input terminated): werkzeug reads it up to this many bytes, one
    # more than a write may hold, so that one too large is seen as such (web.api.parse_body).
    app.config["MAX_CONTENT_LENGTH"] = (app.config["MAX_CONTENT_LENGTH"]
                                        or api.MAX_WRITE_BYTES + 1)
    engine.init_app(app)
    errors.init_app(app)
    headers.init_app(app)
    app.register_api(api.bp)
    app.register_blueprint(pages.bp)
    return app
