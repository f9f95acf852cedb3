"""Pages for people: look up a user, see their recommendations, click one to see why.

The recommendation page also lets a person say "bought it" or "not interested". A write over
HTTP needs the API token, and so does this one: the person signs in once with it
(:func:`sign_in`), which marks their session as one that may write with a seal of the token
(:func:`web.api.token_seal`), so that a token replaced signs every page out; the token itself
is never kept in the cookie nor sent back to the browser. Without that, anyone who could open a page
could write a purchase for any shopper, and the next training would learn from it. The buttons
post a form to this server (:func:`event`), which writes the event itself. Each form carries a
CSRF token (synchronizer pattern): a random value kept in the signed session cookie and
repeated in the form, compared in constant time, so another site cannot make a signed-in
visitor's browser post feedback (nor sign them in). The cookie is signed with ``SECRET_KEY``
(``GRAPHREC_SECRET_KEY``; when unset, a key made when the server starts, so forms opened before
a restart must be reloaded). The buttons are there only while writes are enabled
(``GRAPHREC_API_TOKEN`` is set) and the session is signed in.
"""
from __future__ import annotations

import hmac
import secrets

from flask import Blueprint, abort, redirect, render_template, request, session, url_for

from graphrec.schema import id_problem
from web.api import token_matches, token_seal, write_event, writes_enabled
from web.engine import get_engine
from web.errors import ApiError

bp = Blueprint("pages", __name__)

#: The events a person can post from the page, with their button labels.
PAGE_EVENTS = {"purchase": "Bought it", "dismiss": "Not interested"}


def csrf_token() -> str:
    """This session's CSRF token, made on first use."""
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(32)
    return session["csrf"]


def check_csrf() -> None:
    expected, given = session.get("csrf"), request.form.get("csrf_token", "")
    if not expected or not hmac.compare_digest(expected.encode(), given.encode()):
        raise ApiError(400, "csrf_failed", "This form has expired. Reload the page and try again.")


def check_writes() -> None:
    """A page's write (sign-in included) while writes are off: 403, before the form's token,
    which no page holds then."""
    if not writes_enabled():
        raise ApiError(403, "writes_disabled",
                       "Feedback is off on this server: it is enabled by setting "
                       "GRAPHREC_API_TOKEN.")


def signed_in() -> bool:
    """Whether this session signed in with the server's API token as it is now
    (:func:`web.api.token_seal`, compared in constant time)."""
    seal = session.get("writer")
    return isinstance(seal, str) and writes_enabled() and hmac.compare_digest(
        seal.encode(), token_seal().encode())


def check_user_id(user_id: str) -> None:
    """The API's rule (:func:`graphrec.schema.id_problem`): a page opens for every id the API
    answers."""
    if id_problem(user_id):
        abort(400, "That is not a user id.")


@bp.get("/")
def index():
    user_id = request.args.get("user", "").strip()
    if user_id:
        return redirect(url_for("pages.user", user_id=user_id))
    return render_template("index.html")


@bp.get("/users/<user_id>")
def user(user_id: str):
    check_user_id(user_id)
    service = get_engine().service()
    from graphrec.serving.service import UnknownUser
    try:
        items = service.recommend(user_id, k=10)
    except UnknownUser:
        return render_template("index.html", unknown=user_id), 404
    writes = writes_enabled()
    writer = writes and signed_in()
    return render_template("user.html", user_id=user_id, items=items,
                           model_version=service.model_version,
                           events=PAGE_EVENTS if writer else {},
                           sign_in=writes and not writer,
                           csrf_token=csrf_token() if writes else None)


@bp.post("/users/<user_id>/sign-in")
def sign_in(user_id: str):
    """The page's sign-in: the API token, once a session; then the page again, with its
    buttons. A wrong token is 401 and signs nothing in."""
    check_user_id(user_id)
    check_writes()
    check_csrf()
    if not token_matches(request.form.get("token", "")):
        raise ApiError(401, "unauthorized", "That is not this server's API token.")
    session["writer"] = token_seal()
    return redirect(url_for("pages.user", user_id=user_id), code=303)


@bp.post("/users/<user_id>/events")
def event(user_id: str):
    """A button of the page: write the event, then show the page again (it has changed). Only
    for a session signed in with the API token (:func:`sign_in`)."""
    check_user_id(user_id)
    check_writes()
    if not signed_in():
        raise ApiError(401, "unauthorized",
                       "Sign in with this server's API token to give feedback.")
    check_csrf()
    kind, item_id = request.form.get("kind", ""), request.form.get("item_id", "")
    if kind not in PAGE_EVENTS or id_problem(item_id):
        abort(400, "That is not a feedback form of this site.")
    write_event(user_id, item_id, kind)
    return redirect(url_for("pages.user", user_id=user_id), code=303)
