"""Requests gunicorn refuses before the app sees them are answered in the API's JSON format.

The server points at a store that is not there: these requests never reach the app.
"""
from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import pytest
import requests

from tests.gunicorn_server import dead_store_env, gunicorn
from web.headers import HEADERS
from web.worker import MAX_REQUEST_BYTES, json_error, status_of


@pytest.fixture(scope="module")
def port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    home = tmp_path_factory.mktemp("worker")
    with gunicorn(dead_store_env(home, workers=1), home / "gunicorn.log", answering) as (port, _):
        yield port


def answering(port: int, _master: object) -> bool:
    """Whether the server answers at all (the store is not there: 503)."""
    try:
        requests.get(f"http://127.0.0.1:{port}/api/health", timeout=30)
    except requests.ConnectionError:
        return False
    return True



def raw_request(port: int, data: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send ``data`` as is; the status, headers and body of the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(data)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split(" ")[1]), headers, body


@pytest.mark.parametrize(("data", "status", "code"), [
    (b"NOT A REQUEST\r\n\r\n", 400, "bad_request"),
    (b"GET /api/users/" + b"x" * 5000 + b"/recommendations HTTP/1.1\r\nHost: a\r\n\r\n",
     414, "uri_too_long"),
    (b"GET /api/health HTTP/1.1\r\nHost: a\r\n"
     + b"".join(b"X-%d: 1\r\n" % n for n in range(150)) + b"\r\n",
     431, "request_header_fields_too_large"),
    (b"GET /api/health HTTP/1.1\r\nHost: a\r\nX-Big: " + b"y" * 9000 + b"\r\n\r\n",
     431, "request_header_fields_too_large"),
])
def test_gunicorns_own_errors_are_json(port: int, data: bytes, status: int, code: str) -> None:
    got, headers, body = raw_request(port, data)
    assert got == status
    assert headers["Content-Type"] == "application/json"
    assert {name: headers.get(name) for name in HEADERS} == HEADERS  # as on every answer
    assert int(headers["Content-Length"]) == len(body)
    error = json.loads(body)["error"]
    assert error["status"] == status and error["code"] == code and error["message"]
    assert b"<html" not in body and b"xxxx" not in body and b"yyyy" not in body


@pytest.mark.parametrize(("data", "status", "code"), [
    (b"POST /api/users/u/events HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\n"
     b"Content-Length: 70000\r\n\r\n" + b"x" * 70000, 413, "body_too_large"),
    (b"GET /api/health HTTP/1.1\r\nHost: a\r\n"
     + b"".join(b"X-%d: %s\r\n" % (n, b"z" * 1000) for n in range(70)) + b"\r\n",
     431, "request_header_fields_too_large"),
])
def test_a_request_past_what_the_worker_reads_is_answered_not_reset(
        port: int, data: bytes, status: int, code: str) -> None:
    """Past :data:`MAX_REQUEST_BYTES` the worker answers before the app sees the request, and
    reads what the client still sends before closing, so that the client reads the answer: a
    close with bytes unread would reset the connection under it."""
    assert len(data) > MAX_REQUEST_BYTES
    got, headers, body = raw_request(port, data)
    assert got == status and json.loads(body)["error"]["code"] == code
    assert headers["X-Frame-Options"] == "DENY"
    # and the worker serves on (its store is not there: 503)
    assert requests.get(f"http://127.0.0.1:{port}/api/health", timeout=30).status_code == 503


def test_a_good_request_still_reaches_the_app(port: int) -> None:
    response = requests.get(f"http://127.0.0.1:{port}/api/health", timeout=30)
    assert response.status_code == 503 and response.json()["status"] == "unavailable"
    assert response.headers["X-Frame-Options"] == "DENY"


def test_json_error_round_trip() -> None:
    answer = json_error(431, "Request Header Fields Too Large")
    assert status_of(answer) == (431, "Request Header Fields Too Large")
    head, _, body = answer.partition(b"\r\n\r\n")
    assert b"Content-Length: %d\r\n" % len(body) in head
    assert json.loads(body) == {"error": {"status": 431,
                                          "code": "request_header_fields_too_large",
                                          "message": "Request Header Fields Too Large"}}
