"""Gunicorn's worker, answering the requests it cannot parse in the API's JSON format.

Gunicorn answers a malformed request (400), an overlong request line (414) or too many or too
long header fields (431) itself, before the app sees it, with an HTML page. Clients of the API
parse JSON errors, so this worker answers those with the API's ``{"error": {"status", "code",
"message"}}`` body instead. Gunicorn keeps deciding the status and logging; only the body it
writes changes: the base class writes into a buffer, and the status line is read back from it.
Whatever gunicorn put in its message (bytes of the client's request) is not echoed.
"""
from __future__ import annotations

import json
import socket
from typing import Any

from gunicorn import util
from gunicorn.workers.gthread import ThreadWorker


class _Captured:
    """The client socket, except that what is sent is kept instead."""

    def __init__(self, sock: socket.socket):
        self._sock = sock
        self.sent = bytearray()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)

    def sendall(self, data: bytes) -> None:
        self.sent += data


def json_error(status: int, reason: str) -> bytes:
    """A complete HTTP answer with the API's error body; the connection is closed after it."""
    code = reason.lower().replace(" ", "_") or "error"
    body = json.dumps({"error": {"status": status, "code": code,
                                 "message": reason or "error"}}).encode()
    head = (f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            "X-Content-Type-Options: nosniff\r\n\r\n")
    return head.encode("latin-1") + body


def status_of(answer: bytes) -> tuple[int, str]:
    """The status and reason of an HTTP answer's first line."""
    _version, status, reason = answer.split(b"\r\n", 1)[0].decode("latin-1").split(" ", 2)
    return int(status), reason


class JsonErrors:
    """Mixed into a gunicorn worker class (before it) to make its own error answers JSON:
    ``handle_error`` is the base worker's, the same for every worker class."""

    def handle_error(self, req: Any, client: socket.socket, addr: Any, exc: BaseException) -> None:
        captured = _Captured(client)
        super().handle_error(req, captured, addr, exc)
        if not captured.sent:
            return
        try:
            util.write_nonblock(client, json_error(*status_of(bytes(captured.sent))))
        except OSError:
            self.log.debug("Failed to send error message.")


class JsonErrorWorker(JsonErrors, ThreadWorker):
    """The gthread worker that gunicorn.conf.py names."""
