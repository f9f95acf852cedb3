"""The JSON API: recommendations for a user, the reasons for one of them, health, OpenAPI.

A route is declared with its typed inputs and answers, and that declaration is the OpenAPI
document (see :mod:`web.schemas`): the view's ``path``/``query`` (or ``body``) annotations are
pydantic models, validated before the view runs (400 ``invalid_<field>`` otherwise,
``invalid_body`` for a field a body does not take: :func:`web.errors.validation_error`), and
``responses`` maps each status to its answer model. To add an endpoint, write its models in
:mod:`web.schemas` and a view here::

    @bp.post("/users/<anyid:user_id>/events", responses=answers(201, EventAccepted, 404))
    def add_event(path: UserPath, body: Event): ...
"""
from __future__ import annotations

import hmac
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http import HTTPStatus
from typing import Any, TypeVar

from flask import Response, current_app, jsonify, make_response, request
from flask_openapi3 import APIBlueprint
from pydantic import BaseModel, ValidationError

from graphrec.explain.subgraph import GRAPHML_TYPE, explanation_graph, to_graphml
from graphrec.serving import events
from graphrec.serving.erasure import forget_users
from graphrec.store.connection import GraphStore, StoreUnavailable
from web.engine import ModelUnavailable, get_engine
from web.errors import ApiError, error_response, validation_error
from web.schemas import (
    AvailabilityIn,
    AvailabilitySet,
    CatalogueItemPath,
    Error,
    EventIn,
    EventRecorded,
    Explanation,
    ExplanationQuery,
    Health,
    ItemPath,
    Recommendations,
    RecommendationsQuery,
    Unavailable,
    UserForgotten,
    UserPath,
)

log = logging.getLogger(__name__)

# Every API route can answer these.
COMMON: Responses = {400: Error, 500: Error, 503: Unavailable}
MAX_WRITE_BYTES = 4096

bp = APIBlueprint("api", __name__, url_prefix="/api")


Responses = dict[str | int | HTTPStatus, type[BaseModel] | dict[Any, Any] | None]
Body = TypeVar("Body", bound=BaseModel)


def answers(status: int, model: type[BaseModel], *errors: int) -> Responses:
    """``responses`` for a route: its answer, its own error statuses, and the common ones."""
    return {status: model, **{code: Error for code in errors}, **COMMON}


@bp.get("/users/<anyid:user_id>/recommendations", operation_id="recommend",
        summary="The top k items for a user, each with its best reason",
        responses=answers(200, Recommendations, 404))
def recommendations(path: UserPath, query: RecommendationsQuery):
    service = get_engine().service()
    from graphrec.serving.service import UnknownUser
    try:
        items = service.recommend(path.user_id, k=query.k)
    except UnknownUser:
        raise ApiError(404, "unknown_user", f"no user with id {path.user_id!r}") from None
    return jsonify(user_id=path.user_id, k=query.k, model_version=service.model_version,
                   recommendations=items)


@bp.get("/users/<anyid:user_id>/recommendations/<anyid:item_id>/explanation",
        operation_id="explain",
        summary="Why an item is recommended to a user: reason paths in the graph",
        responses=answers(200, Explanation, 404))
def explanation(path: ItemPath, query: ExplanationQuery):
    service = get_engine().service()
    from graphrec.serving.service import UnknownItem, UnknownUser
    try:
        explained = service.explain(path.user_id, path.item_id)
    except UnknownUser:
        raise ApiError(404, "unknown_user", f"no user with id {path.user_id!r}") from None
    except UnknownItem:
        raise ApiError(404, "unknown_item", f"no item with id {path.item_id!r}") from None
    if query.format == "graphml":
        return Response(to_graphml(explanation_graph(explained)), mimetype=GRAPHML_TYPE)
    return jsonify(model_version=service.model_version, **explained)


def writes_enabled() -> bool:
    return bool(current_app.config.get("API_TOKEN"))


def token_matches(given: str) -> bool:
    """Whether ``given`` (blanks around it aside) is the server's API token, compared in
    constant time; never while writes are off. The one check of the token: the API's header
    and the page's sign-in (:mod:`web.pages`) both ask it."""
    if not writes_enabled():
        return False
    expected = str(current_app.config["API_TOKEN"]).encode()
    return hmac.compare_digest(given.strip().encode(), expected)


def token_seal() -> str:
    """A seal of the server's API token: an HMAC of it under the app's ``SECRET_KEY``, what a
    page's session keeps once signed in (:mod:`web.pages`). Neither the token nor anything a
    client could test guesses of it against leaves the server, and a session sealed under a
    token since replaced no longer matches: rotating the token signs every page out."""
    key = current_app.config["SECRET_KEY"]
    key = key.encode() if isinstance(key, str) else bytes(key)
    return hmac.new(key, str(current_app.config["API_TOKEN"]).encode(), "sha256").hexdigest()


#: The names of the views that write (:func:`requires_token`).
_WRITES: set[str] = set()
#: Methods no write is routed by: a request by one of them is let through at once (every read).
READS = frozenset({"GET", "HEAD", "OPTIONS"})


def requires_token(view: Callable) -> Callable:
    """Marks ``view`` as a write, which :func:`check_token` guards."""
    _WRITES.add(view.__name__)
    return view


@bp.before_request
def check_token() -> Response | None:
    """Writes need ``Authorization: Bearer <GRAPHREC_API_TOKEN>``, compared in constant time:
    403 while the server has no token (writes off), 401 without the right one. The token is
    never echoed, logged or named in an answer. Checked before anything of the request is
    read, its path included: a client without the token learns nothing, not even what an id or
    a body should be. A method a route does not take is still its 405."""
    if request.method in READS or request.url_rule is None \
            or (request.endpoint or "").rpartition(".")[2] not in _WRITES:
        return None
    if not writes_enabled():
        raise ApiError(403, "writes_disabled",
                       "writes are disabled on this server: start it with GRAPHREC_API_TOKEN "
                       "set, and send the token as 'Authorization: Bearer <token>'")
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token_matches(given):
        response, status, headers = error_response(
            401, "unauthorized", "this endpoint needs 'Authorization: Bearer <token>' with the "
                                 "server's API token",
            {"WWW-Authenticate": 'Bearer realm="graphrec"'})
        return make_response(response, status, headers)
    return None


def parse_body(model: type[Body], expected: str) -> Body | Response:
    """A write's JSON body by its model, or the 400 answer naming the field that is wrong
    (``expected`` says what the body must be when it is not a JSON object at all)."""
    # A chunked body has no length to check first: it is read up to the app's
    # MAX_CONTENT_LENGTH, a byte more than a write may hold, so one that reaches it is too large.
    if (request.content_length or 0) > MAX_WRITE_BYTES \
            or len(request.get_data(cache=True)) > MAX_WRITE_BYTES:
        raise ApiError(413, "body_too_large", f"a body is at most {MAX_WRITE_BYTES} bytes")
    try:
        body = request.get_json(force=True, silent=True)
    except RecursionError:  # arrays in arrays deeper than the parser goes: not a body either
        body = None
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_body", f"the body must be a JSON object with {expected}")
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        return validation_error(exc)


@contextmanager
def store_write() -> Iterator[GraphStore]:
    """The process's writer, for one write; a store that fails is probed again before the next
    write."""
    engine = get_engine()
    try:
        yield engine.writer()
    except StoreUnavailable:
        engine.failed_write()
        raise


@contextmanager
def catalogue_write(item_id: str) -> Iterator[GraphStore]:
    """:func:`store_write` for one write about ``item_id``: 404 when the item is not in the
    catalogue."""
    try:
        with store_write() as store:
            yield store
    except events.NotInCatalogue:
        raise ApiError(404, "unknown_item", f"no item with id {item_id!r}") from None


def write_event(user_id: str, item_id: str, kind: str) -> events.Recorded:
    """Write one event through the process's writer; 404 for an item not in the catalogue."""
    with catalogue_write(item_id) as store:
        return events.record(store, user_id, item_id, kind)


@bp.post("/users/<anyid:user_id>/events", operation_id="postEvent",
         summary="Record a purchase, a product view or a dismissal (not interested)",
         description="Writes the event into the graph; the next request reflects it. A user id "
                     "the store does not know yet is created. Repeating a purchase or a "
                     "dismissal changes nothing (200); a view updates its time and count.",
         security=[{"bearer": []}],
         openapi_extensions={"requestBody": {"required": True, "content": {
             "application/json": {"schema": EventIn.model_json_schema()}}}},
         responses={**answers(201, EventRecorded, 401, 403, 404, 413), 200: EventRecorded})
@requires_token
def post_event(path: UserPath):
    event = parse_body(EventIn, f'"item_id" and "kind" (one of {", ".join(events.KINDS)})')
    if isinstance(event, Response):
        return event
    recorded = write_event(path.user_id, event.item_id, event.kind)
    return jsonify(recorded.as_dict()), 201 if recorded.created else 200


@bp.delete("/users/<anyid:user_id>", operation_id="forgetUser",
           summary="Take a shopper out of the graph: a deletion request",
           description="Removes the user with their purchases, views, dismissals, published "
                       "recommendations and the published reason paths that name them; from the "
                       "next request on they are unknown (404). What a trained model learnt "
                       "from their purchases stays in it until the next graphrec train.",
           security=[{"bearer": []}],
           responses=answers(200, UserForgotten, 401, 403, 404))
@requires_token
def forget_user(path: UserPath):
    with store_write() as store:
        done = forget_users(store, [path.user_id])
    if not done.users:
        raise ApiError(404, "unknown_user", f"no user with id {path.user_id!r}")
    return jsonify(user_id=path.user_id, purchases=done.purchases, views=done.views,
                   dismissals=done.dismissals, recommendations=done.recommendations,
                   paths=done.paths, others_paths=done.others_paths)


@bp.put("/items/<anyid:item_id>/availability", operation_id="setAvailability",
        summary="Say whether the shop offers an item now (out of stock, discontinued, back)",
        description="An item not offered is never recommended to anyone, and its explanation "
                    "says not_served: unavailable; it stays in the graph, in the histories of "
                    "those who bought it and in the reason paths through it. Every answer "
                    "begun after this one leaves it out, whichever worker gives it.",
        security=[{"bearer": []}],
        openapi_extensions={"requestBody": {"required": True, "content": {
            "application/json": {"schema": AvailabilityIn.model_json_schema()}}}},
        responses=answers(200, AvailabilitySet, 401, 403, 404, 413))
@requires_token
def set_availability(path: CatalogueItemPath):
    wanted = parse_body(AvailabilityIn, '"available" (true or false)')
    if isinstance(wanted, Response):
        return wanted
    with catalogue_write(path.item_id) as store:
        done = events.set_available(store, path.item_id, wanted.available)
    return jsonify(done.as_dict())


@bp.get("/health", operation_id="health",
        summary="Whether the graph store answers and a model is loaded",
        responses={200: Health, 503: Health})
def health():
    """Ready or not, and which part is not; why is logged here, not told to the client."""
    engine = get_engine()
    checks = {"store": {"ok": False}, "model": {"ok": False}}
    try:
        engine.check_store()
        checks["store"] = {"ok": True}
    except StoreUnavailable as exc:
        log.warning("health: %s", exc)
        checks["store"]["message"] = "the graph store does not answer"
    if checks["store"]["ok"]:
        try:
            checks["model"] = engine.service().health()
        except (ModelUnavailable, StoreUnavailable) as exc:
            log.warning("health: %s", exc)
            checks["model"]["message"] = "no model is loaded"
    else:
        service = engine.loaded_service()
        if service is not None:
            checks["model"] = {"ok": True, "version": service.model_version}
    ok = all(check["ok"] for check in checks.values())
    response = jsonify(status="ok" if ok else "unavailable", checks=checks)
    if ok:
        return response
    return response, 503, {"Retry-After": str(current_app.config["RETRY_AFTER"])}


@bp.get("/openapi.json", operation_id="openapi", summary="This document",
        responses={200: {"description": "OpenAPI 3 document",
                         "content": {"application/json": {"schema": {"type": "object"}}}}})
def openapi():
    return jsonify(current_app.api_doc)
