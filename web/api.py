"""The JSON API: recommendations for a user, the reasons for one of them, health, OpenAPI.

A route is declared with its typed inputs and answers, and that declaration is the OpenAPI
document (see :mod:`web.schemas`): the view's ``path``/``query`` (or ``body``) annotations are
pydantic models, validated before the view runs (400 ``invalid_<field>`` otherwise), and
``responses`` maps each status to its answer model. To add an endpoint, write its models in
:mod:`web.schemas` and a view here::

    @bp.post("/users/<anyid:user_id>/events", responses=answers(201, EventAccepted, 404))
    def add_event(path: UserPath, body: Event): ...
"""
from __future__ import annotations

import logging

from flask import Response, current_app, jsonify
from flask_openapi3 import APIBlueprint
from pydantic import BaseModel

from graphrec.store.connection import StoreUnavailable
from graphrec.explain.subgraph import GRAPHML_TYPE, explanation_graph, to_graphml
from web.engine import ModelUnavailable, get_engine
from web.errors import ApiError
from web.schemas import (Error, Explanation, ExplanationQuery, Health, ItemPath, Recommendations,
                         RecommendationsQuery, Unavailable, UserPath)

log = logging.getLogger(__name__)

# Every API route can answer these.
COMMON = {400: Error, 500: Error, 503: Unavailable}

bp = APIBlueprint("api", __name__, url_prefix="/api")


def answers(status: int, model: type[BaseModel], *errors: int) -> dict[int, type[BaseModel]]:
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
            service = engine.service()
            checks["model"] = {"ok": True, "version": service.model_version}
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
