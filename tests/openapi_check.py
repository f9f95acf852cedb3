"""A Flask test client that checks every answer of a documented operation against the app's
own OpenAPI document (with openapi-core, an implementation independent of the one that
generates the document). Pages, unknown routes and undocumented methods are not in the document
and are not checked."""
from __future__ import annotations

from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from openapi_core import Config, OpenAPI
from openapi_core.contrib.werkzeug import WerkzeugOpenAPIRequest, WerkzeugOpenAPIResponse
from openapi_core.templating.paths.exceptions import OperationNotFound, PathNotFound


# GraphML is XML text: read it as a string (openapi-core reads JSON and forms only).
MEDIA_TYPES = {"application/graphml+xml": lambda data: data.decode("utf-8")}


def openapi_of(app: Flask) -> OpenAPI:
    """The app's document, checked by openapi-spec-validator (raises when it is not valid)."""
    with app.test_request_context():
        return OpenAPI.from_dict(app.api_doc,
                                 config=Config(extra_media_type_deserializers=MEDIA_TYPES))


def check_answer(spec: OpenAPI, response: Any) -> bool:
    """Raise when ``response`` contradicts the document; False when its operation is not in it.

    Pages are never in it (and a page's form body is consumed by its view, so it could not be
    read again here)."""
    if not response.request.path.startswith("/api/"):
        return False
    try:
        spec.validate_response(WerkzeugOpenAPIRequest(response.request),
                               WerkzeugOpenAPIResponse(response))
    except (PathNotFound, OperationNotFound):
        return False
    return True


class DocumentedClient(FlaskClient):
    """Every answer is checked against the document before the test sees it."""

    def open(self, *args: Any, **kwargs: Any) -> Any:
        response = super().open(*args, **kwargs)
        spec = self.application.extensions.get("test_openapi")
        if spec is None:
            spec = self.application.extensions["test_openapi"] = openapi_of(self.application)
        check_answer(spec, response)
        return response


def documented(app: Flask) -> Flask:
    app.test_client_class = DocumentedClient
    return app
