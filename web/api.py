"""The JSON API: recommendations for a user, the reasons for one of them, health, OpenAPI."""
from __future__ import annotations

import functools
import hmac
import unicodedata
from collections.abc import Callable

from flask import Blueprint, current_app, jsonify, request

from graphrec import events
from graphrec.store import StoreUnavailable
from web.engine import ModelUnavailable, get_engine
from web.errors import ApiError, error_response
from web.openapi import openapi_document

bp = Blueprint("api", __name__, url_prefix="/api")

MAX_ID_LENGTH = 100
MAX_EVENT_BYTES = 4096


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
    from graphrec.service import UnknownUser
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
    from graphrec.service import UnknownItem, UnknownUser
    try:
        explained = service.explain(user_id, item_id)
    except UnknownUser:
        raise ApiError(404, "unknown_user", f"no user with id {user_id!r}") from None
    except UnknownItem:
        raise ApiError(404, "unknown_item", f"no item with id {item_id!r}") from None
    return jsonify(model_version=service.model_version, **explained)


def writes_enabled() -> bool:
    return bool(current_app.config.get("API_TOKEN"))


def requires_token(view: Callable) -> Callable:
    """Writes need ``Authorization: Bearer <GRAPHREC_API_TOKEN>``, compared in constant time:
    403 while the server has no token (writes off), 401 without the right one. The token is
    never echoed, logged or named in an answer."""
    @functools.wraps(view)
    def guarded(*args, **kwargs):
        if not writes_enabled():
            raise ApiError(403, "writes_disabled",
                           "writes are disabled on this server: start it with GRAPHREC_API_TOKEN "
                           "set, and send the token as 'Authorization: Bearer <token>'")
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        expected = str(current_app.config["API_TOKEN"]).encode()
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), expected):
            return error_response(401, "unauthorized",
                                  "this endpoint needs 'Authorization: Bearer <token>' with the "
                                  "server's API token",
                                  {"WWW-Authenticate": 'Bearer realm="graphrec"'})
        return view(*args, **kwargs)
    return guarded


def parse_event() -> tuple[str, str]:
    """The ``item_id`` and ``kind`` of a JSON event body; 400 naming the field that is wrong."""
    if (request.content_length or 0) > MAX_EVENT_BYTES:
        raise ApiError(413, "body_too_large", f"an event is at most {MAX_EVENT_BYTES} bytes")
    body = request.get_json(force=True, silent=True)
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_body", 'the body must be a JSON object with "item_id" and '
                                            f'"kind" (one of {", ".join(events.KINDS)})')
    item_id, kind = body.get("item_id"), body.get("kind")
    if not isinstance(item_id, str):
        raise ApiError(400, "invalid_item_id", "item_id must be a string")
    if kind not in events.KINDS:
        raise ApiError(400, "invalid_kind", f"kind must be one of {', '.join(events.KINDS)}")
    return check_id(item_id, "item"), kind


def write_event(user_id: str, item_id: str, kind: str) -> events.Recorded:
    """Write one event through the process's writer; 404 for an item not in the catalogue."""
    engine = get_engine()
    try:
        return events.record(engine.event_writer(), user_id, item_id, kind)
    except events.UnknownEventItem:
        raise ApiError(404, "unknown_item", f"no item with id {item_id!r}") from None
    except StoreUnavailable:
        engine.failed_write()
        raise


@bp.post("/users/<anyid:user_id>/events")
@requires_token
def post_event(user_id: str):
    check_id(user_id, "user")
    item_id, kind = parse_event()
    recorded = write_event(user_id, item_id, kind)
    return jsonify(recorded.as_dict()), 201 if recorded.created else 200


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
            service = engine.service()
            checks["model"] = {"ok": True, "version": service.model_version}
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
