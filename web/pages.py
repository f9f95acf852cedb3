"""Pages for people: look up a user, see their recommendations, click one to see why."""
from __future__ import annotations

from flask import Blueprint, abort, redirect, render_template, request, url_for

from graphrec.schema import MAX_ID_LENGTH
from web.engine import get_engine

bp = Blueprint("pages", __name__)


@bp.get("/")
def index():
    user_id = request.args.get("user", "").strip()
    if user_id:
        return redirect(url_for("pages.user", user_id=user_id))
    return render_template("index.html")


@bp.get("/users/<user_id>")
def user(user_id: str):
    if len(user_id) > MAX_ID_LENGTH or not user_id.isprintable():
        abort(400, "That is not a user id.")
    service = get_engine().service()
    from graphrec.serving.service import UnknownUser
    try:
        items = service.recommend(user_id, k=10)
    except UnknownUser:
        return render_template("index.html", unknown=user_id), 404
    return render_template("user.html", user_id=user_id, items=items,
                           model_version=service.model_version)
