"""A raw HTTP/1.1 client over sockets, for what an HTTP library would not send or would hide: oversized
request lines and headers, dripped bytes, idle connections, framing errors (tests/reliability)."""

from __future__ import annotations

import json
import socket
import time
from typing import Any

ERROR_KEYS = {"error", "message", "path", "status", "timestamp", "errors"}


def connect(port: int, timeout: float = 10.0) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


class Reply:
    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status, self.headers, self.body = status, headers, body

    def json(self) -> Any:
        return json.loads(self.body)


def read_reply(sock: socket.socket, timeout: float = 10.0) -> Reply | None:
    """One response (every tracktion answer but the stream has Content-Length), or None if the connection
    ended first."""
    sock.settimeout(timeout)
    data = b""
    try:
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                return None
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        status_line, *lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        while len(body) < length:
            chunk = sock.recv(65536)
            if not chunk:
                return None
            body += chunk
    except (ConnectionError, TimeoutError, OSError):
        return None
    return Reply(int(status_line.split(" ")[1]), headers, body[:length])


def seconds_until_closed(sock: socket.socket, bound: float) -> float | None:
    """Seconds until the server closes `sock` (reads EOF or a reset), None if still open after `bound`."""
    started = time.monotonic()
    sock.settimeout(0.05)
    while time.monotonic() - started < bound:
        try:
            if sock.recv(65536) == b"":
                return time.monotonic() - started
        except TimeoutError:
            continue
        except OSError:
            return time.monotonic() - started
    return None


def request(path: str = "/-/health", extra: bytes = b"") -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: x\r\n".encode() + extra + b"\r\n"


def assert_error_body(reply: Reply | None, status: int, code: int, path: str | None) -> dict[str, Any]:
    """The §1.6 body, `Connection: close`, a request id; `path` checked unless None."""
    assert reply is not None, "no answer"
    assert reply.status == status, (reply.status, reply.body[:300])
    assert reply.headers["content-type"] == "application/json", reply.headers
    assert reply.headers["connection"] == "close"
    assert "x-request-id" in reply.headers
    body: dict[str, Any] = reply.json()
    assert set(body) == ERROR_KEYS and body["status"] == status, body
    assert body["errors"][0]["code"] == code, body
    assert path is None or body["path"] == path, body
    return body
