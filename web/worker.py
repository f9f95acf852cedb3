"""The service's gunicorn worker: gunicorn's threaded worker with three changes.

**A thread takes a request only once the request has arrived.** Gunicorn's ``gthread`` worker
hands every new connection to a thread, which then blocks reading the request head. A client
that sends its head slowly (a header line every few seconds: a "slow loris") holds that thread
for as long as it likes, so a few dozen such connections held every thread of every worker and
the service answered nobody else. Here the worker's event loop reads the head (and a body of
declared length up to :data:`MAX_REQUEST_BYTES`) from a non-blocking socket, parks the connection
meanwhile at the cost of a file descriptor and a buffer, and gives it to a thread only when the
request is complete. A request that is not complete within :data:`REQUEST_TIMEOUT` seconds is
closed; one that would grow past :data:`MAX_REQUEST_BYTES` is answered 431 (its head) or 413 (its
declared body) and closed once the client has stopped sending (within the same time), so that
the client reads the answer instead of a reset. The same holds for each further request on a
kept-alive connection. A chunked body is left to the thread, as gthread
does; the API takes none.

**A worker listens only once it can answer.** With ``reuse_port`` gunicorn opens a new worker's
listening socket right after the fork, before the worker loads the app and runs
``post_worker_init`` (which connects to the store and loads the model, for seconds). The kernel
counts that socket in the port's group as soon as it listens, so a share of new connections
waited in its backlog until loading was done: killing one worker at 50 requests/s left 79
requests waiting 1-6 s for its replacement. Here the worker closes that early socket at once,
keeping any connection that reached it in that instant, and opens its own once
``post_worker_init`` has returned.

**Its own error answers are JSON**, with the security headers of every answer
(:mod:`web.headers`). Gunicorn answers a malformed request (400), an overlong
request line (414) or too many or too long header fields (431) itself, before the app sees it,
with an HTML page. Clients of the API
parse JSON errors, so this worker answers those with the API's ``{"error": {"status", "code",
"message"}}`` body instead. Gunicorn keeps deciding the status and logging; only the body it
writes changes: the base class writes into a buffer, and the status line is read back from it.
Whatever gunicorn put in its message (bytes of the client's request) is not echoed.

TLS belongs to the proxy in front (SECURITY.md): with ``certfile`` set the worker reads requests
as ``gthread`` does, in its threads. The subclass uses ``gthread``'s internals, hence the pin on
gunicorn's major version in pyproject.toml.
"""
from __future__ import annotations

import errno
import json
import re
import selectors
import socket
import time
from functools import partial
from typing import Any

from gunicorn import sock, util
from gunicorn.workers.gthread import STOP_KEEPALIVE_LINGER, TConn, ThreadWorker

from web.headers import HEADERS

REQUEST_TIMEOUT = 10.0
"""Seconds a client has to send a whole request (head and a body of declared length)."""

MAX_REQUEST_BYTES = 64 * 1024
"""Largest request read before a thread takes it: far above any request the API takes."""

_HEAD_END = b"\r\n\r\n"
_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:[ \t]*(\d{1,10})[ \t]*\r\n", re.IGNORECASE)
_EXPECT_CONTINUE = re.compile(rb"\r\nexpect:[ \t]*100-continue[ \t]*\r\n", re.IGNORECASE)
_RETRYABLE = (errno.EAGAIN, errno.EWOULDBLOCK, errno.ECONNABORTED, errno.EINTR)


def request_complete(data: bytes) -> bool | None:
    """True when ``data`` holds a whole request head and its declared body, False while it
    does not yet, None when it cannot: too large, or a body longer than the cap.

    A client that expects "100 Continue" sends its body only once told to (by gunicorn, when
    the app reads the body), so for it the head is the request."""
    end = data.find(_HEAD_END)
    if end < 0:
        return None if len(data) > MAX_REQUEST_BYTES else False
    head_size = end + len(_HEAD_END)
    if _EXPECT_CONTINUE.search(data, 0, head_size):
        return True
    match = _CONTENT_LENGTH.search(data, 0, head_size)
    body_size = int(match.group(1)) if match else 0
    if head_size + body_size > MAX_REQUEST_BYTES:
        return None
    return len(data) >= head_size + body_size


def refusal(data: bytes) -> tuple[int, str, str]:
    """The status, reason and error code that refuse a request :func:`request_complete` found
    too large: 431 while its head has not ended within :data:`MAX_REQUEST_BYTES`, else 413 (its
    declared body), with the code the app gives a body too large for a write."""
    if data.find(_HEAD_END) < 0:
        return 431, "Request Header Fields Too Large", "request_header_fields_too_large"
    return 413, "Content Too Large", "body_too_large"


class _Captured:
    """The client socket, except that what is sent is kept instead."""

    def __init__(self, sock: socket.socket):
        self._sock = sock
        self.sent = bytearray()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)

    def sendall(self, data: bytes) -> None:
        self.sent += data


def json_error(status: int, reason: str, code: str | None = None) -> bytes:
    """A complete HTTP answer with the API's error body (``code``: by default the reason's
    words); the connection is closed after it."""
    code = code or reason.lower().replace(" ", "_") or "error"
    body = json.dumps({"error": {"status": status, "code": code,
                                 "message": reason or "error"}}).encode()
    head = (f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            + "".join(f"{name}: {value}\r\n" for name, value in HEADERS.items()) + "\r\n")
    return head.encode("latin-1") + body


def status_of(answer: bytes) -> tuple[int, str]:
    """The status and reason of an HTTP answer's first line."""
    _version, status, reason = answer.split(b"\r\n", 1)[0].decode("latin-1").split(" ", 2)
    return int(status), reason


class JsonErrors:
    """Mixed into a gunicorn worker class (before it) to make its own error answers JSON:
    ``handle_error`` is the base worker's, the same for every worker class."""

    log: Any  # the worker's

    def handle_error(self, req: Any, client: socket.socket, addr: Any, exc: BaseException) -> None:
        captured = _Captured(client)
        super().handle_error(req, captured, addr, exc)  # type: ignore[misc]  # the worker's
        if not captured.sent:
            return
        try:
            util.write_nonblock(client, json_error(*status_of(bytes(captured.sent))))
        except OSError:
            self.log.debug("Failed to send error message.")


class ServiceWorker(JsonErrors, ThreadWorker):
    """``gthread`` that parks connections until their request has arrived, listens only once
    its app is loaded, and answers its own errors in JSON (see the module's docstring)."""

    sockets: list[Any]

    def init_process(self) -> None:
        self._early_clients = _close_listeners(self.sockets)
        self.sockets = []
        super().init_process()

    def run(self) -> None:
        self.sockets = sock.create_sockets(self.cfg, self.log)
        for client, address, server_address in self._early_clients:
            self.nr_conns += 1
            self._await_request(TConn(self.cfg, client, address, server_address))
        self._early_clients = []
        super().run()

    def accept(self, listener: socket.socket) -> None:
        if self.cfg.is_ssl:
            super().accept(listener)
            return
        try:
            client, address = listener.accept()
        except OSError as exc:
            if exc.errno not in _RETRYABLE:
                raise
            return
        self.nr_conns += 1
        self._await_request(TConn(self.cfg, client, address, listener.getsockname()))

    def on_client_socket_readable(self, conn: TConn, client: socket.socket) -> None:
        """A kept-alive connection's next request is coming: read it here too."""
        if self.cfg.is_ssl:
            super().on_client_socket_readable(conn, client)
            return
        self.poller.unregister(client)
        self.keepalived_conns.remove(conn)
        self._await_request(conn)

    def murder_pending(self) -> None:
        """Close parked connections that ran out of time; a stopping worker gives them as long
        as gthread gives its kept-alive ones, not the whole :data:`REQUEST_TIMEOUT`."""
        if not self.alive:
            deadline = time.monotonic() + STOP_KEEPALIVE_LINGER
            for conn in self.pending_conns:  # one cap for all keeps the deque in expiry order
                conn.timeout = min(conn.timeout, deadline)
        super().murder_pending()

    def handle(self, conn: TConn):
        """In a thread: the request read so far goes back in front of the parser's input."""
        received = getattr(conn, "received", b"")
        if received:
            conn.received = b""
            conn.init()
            conn.parser.unreader.unread(received)
        return super().handle(conn)

    def _await_request(self, conn: TConn) -> None:
        """Park ``conn`` on the event loop until its request is complete (or times out).

        Parked connections join gthread's own ``pending_conns``, whose expiry closes them;
        every entry there gets the same timeout from now, so the deque stays in expiry order.
        """
        conn.sock.setblocking(False)
        self._park(conn, self._read_request)

    def _park(self, conn: TConn, on_readable: Any) -> None:
        """Wait on the event loop for ``conn`` to be readable, then call ``on_readable(conn,
        socket)``, for at most :data:`REQUEST_TIMEOUT` seconds from now."""
        conn.received = b""
        conn.timeout = time.monotonic() + REQUEST_TIMEOUT
        self.pending_conns.append(conn)
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(on_readable, conn))

    def _unpark(self, conn: TConn, *, close: bool) -> None:
        """Take ``conn`` off the event loop's waits; ``close``: and close it."""
        self.poller.unregister(conn.sock)
        self.pending_conns.remove(conn)
        if close:
            self.nr_conns -= 1
            conn.close()

    def _read_request(self, conn: TConn, _client: socket.socket) -> None:
        try:
            data = conn.sock.recv(MAX_REQUEST_BYTES + 1 - len(conn.received))
        except OSError as exc:
            if exc.errno in _RETRYABLE:
                return
            data = b""
        conn.received += data
        complete = request_complete(conn.received) if data else None
        if complete is False:
            return
        self._unpark(conn, close=not data)  # closed by the client: closed here too
        if not data:
            return
        if complete is None:  # more than a request may be
            self._refuse(conn, *refusal(conn.received))
            return
        conn.data_ready = True
        self.enqueue_req(conn)

    def _refuse(self, conn: TConn, status: int, reason: str, code: str) -> None:
        """Answer ``status`` and close ``conn`` once the client stops sending: a socket closed
        with unread bytes sends a reset, which may reach the client before it reads the
        answer. Parked like a request meanwhile, so the same timeout ends it."""
        try:
            # a few hundred bytes, which the socket's buffer has room for
            conn.sock.send(json_error(status, reason, code))
            conn.sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        self._park(conn, self._drain)

    def _drain(self, conn: TConn, _client: socket.socket) -> None:
        """Read and drop what a refused client still sends; close at its end."""
        try:
            if conn.sock.recv(MAX_REQUEST_BYTES):
                return
        except OSError as exc:
            if exc.errno in _RETRYABLE:
                return
        self._unpark(conn, close=True)


def _close_listeners(listeners: list) -> list[tuple[socket.socket, object, object]]:
    """Close the sockets gunicorn opened for this worker; returns the connections that reached
    them already, (client, its address, the listener's address), to be answered later."""
    clients = []
    for listener in listeners:
        listener.setblocking(False)
        server_address = listener.getsockname()
        while True:
            try:
                client, address = listener.accept()
            except OSError:
                break
            clients.append((client, address, server_address))
        listener.close()
    return clients
