"""The JSON API: recommendations for a user, the reasons for one of them, health, OpenAPI."""
from __future__ import annotations

import unicodedata

from flask import Blueprint, current_app, jsonify, request

from graphrec.store.connection import StoreUnavailable
from web.engine import ModelUnavailable, get_engine
from web.errors import ApiError
from web.openapi import openapi_document

bp = Blueprint("api", __name__, url_prefix="/api")

MAX_ID_LENGTH = 100


def check_id(value: str, what: str) -> str:
    """Reject ids no catalogue has: empty, over 100 characters, or with control characters."""
    if not value:
        raise ApiError(400, f"invalid_{what}_id", f"the {what} id is empty")
    if len(value) > MAX_ID_LENGTH:
        raise ApiError(400, f"invalid_{what}_id",
                       f"the {what} id is longer than {MAX_ID_LENGTH} characters")
    if any(unicodedata.category(ch) == "Cc" for ch in value):
        raise ApiError(400, f"invalid_{what}_id", f"the {what} id contains control characters")
    return value


def parse_k(raw: str | None) -> int:
    limit = current_app.config["MAX_K"]
    if raw is None:
        return current_app.config["DEFAULT_K"]
    try:
        k = int(raw, 10)
    except ValueError:
        raise ApiError(400, "invalid_k", f"k must be an integer from 1 to {limit}") from None
    if not 1 <= k <= limit:
        raise ApiError(400, "invalid_k", f"k must be an integer from 1 to {limit}")
    return k


@bp.get("/users/<anyid:user_id>/recommendations")
def recommendations(user_id: str):
    check_id(user_id, "user")
    k = parse_k(request.args.get("k"))
    service = get_engine().service()
    from graphrec.serving.service import UnknownUser
    try:
        items = service.recommend(user_id, k=k)
    except UnknownUser:
        raise ApiError(404, "unknown_user", f"no user with id {user_id!r}") from None
    return jsonify(user_id=user_id, k=k, model_version=service.model_version,
                   recommendations=items)


@bp.get("/users/<anyid:user_id>/recommendations/<anyid:item_id>/explanation")
def explanation(user_id: str, item_id: str):
    check_id(user_id, "user")
    check_id(item_id, "item")
    service = get_engine().service()
    from graphrec.serving.service import UnknownItem, UnknownUser
    try:
        explained = service.explain(user_id, item_id)
    except UnknownUser:
        raise ApiError(404, "unknown_user", f"no user with id {user_id!r}") from None
    except UnknownItem:
        raise ApiError(404, "unknown_item", f"no item with id {item_id!r}") from None
    return jsonify(model_version=service.model_version, **explained)


@bp.get("/health")
def health():
    engine = get_engine()
    checks = {"store": {"ok": False}, "model": {"ok": False}}
    try:
        engine.check_store()
        checks["store"] = {"ok": True}
    except StoreUnavailable as exc:
        checks["store"]["message"] = str(exc)
    if checks["store"]["ok"]:
        try:
            checks["model"] = engine.service().health()
        except (ModelUnavailable, StoreUnavailable) as exc:
            checks["model"]["message"] = str(exc)
    else:
        service = engine.loaded_service()
        if service is not None:
            checks["model"] = {"ok": True, "version": service.model_version}
    ok = all(check["ok"] for check in checks.values())
    response = jsonify(status="ok" if ok else "unavailable", checks=checks)
    if ok:
        return response
    return response, 503, {"Retry-After": str(current_app.config["RETRY_AFTER"])}


@bp.get("/openapi.json")
def openapi():
    return jsonify(openapi_document(current_app.config["MAX_K"], MAX_ID_LENGTH))
