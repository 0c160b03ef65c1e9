"""The HTTP server's own limits (docs/api.md §12, §1.6), on a real `tracktion serve` over raw sockets.

* request line ≤ 8 KiB and header lines ≤ 64 KiB together, else 414 / 431 with the §1.6 body, then close;
  an 80 MB header is refused after 64 KiB without stalling anyone else (it used to block the loop 2.7 s);
* a request's headers must arrive within the header timeout (30 s; 1 s here) of the connection or, on a
  kept-alive connection, of that request's first byte; an idle kept-alive connection is closed after the
  keep-alive timeout (75 s; 2 s here);
* at most `TRACKTION_MAX_CONNECTIONS` connections: the next one gets 503 (5002) and is closed;
* framing errors (unknown method, bare LF, garbage, a malformed header) get the §1.6 body, not text/plain.

Backend-independent: every test runs one SQLite server.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.raw_http import (
    Reply,
    assert_error_body,
    connect,
    read_reply,
    request,
    seconds_until_closed,
)
from tests.support.reliability import ServeProcess

pytestmark = pytest.mark.e2e

HEADER_TIMEOUT = 1.0
KEEPALIVE = 2.0
ENV = {
    "TRACKTION_HEADER_TIMEOUT_SECONDS": str(HEADER_TIMEOUT),
    "TRACKTION_KEEPALIVE_TIMEOUT_SECONDS": str(KEEPALIVE),
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    s = ServeProcess(tmp_path_factory.mktemp("limits") / "data", env=ENV)
    s.start()
    yield s
    s.kill()


def served(sock: socket.socket) -> None:
    """The request just sent on `sock` got a 200."""
    reply = read_reply(sock)
    assert reply is not None and reply.status == 200, reply and reply.body[:300]


def healthy(server: ServeProcess) -> None:
    with connect(server.port) as sock:
        sock.sendall(request())
        reply = read_reply(sock)
        assert reply is not None and reply.status == 200, "the server no longer answers"


# -- request line and headers: 8 KiB / 64 KiB ----------------------------------------------------------------


def _line_of(length: int) -> str:
    """A request target whose request line (`GET <target> HTTP/1.1`) is `length` bytes long."""
    return "/x" + "a" * (length - len("GET  HTTP/1.1") - 2)


def test_request_line_of_8_kib_is_served_and_one_byte_more_is_414(server: ServeProcess) -> None:
    with connect(server.port) as sock:
        sock.sendall(request(_line_of(8192)))
        reply = read_reply(sock)
        assert reply is not None and reply.status == 404, "an 8 KiB request line is within the limit"
    with connect(server.port) as sock:
        target = _line_of(8193)
        sock.sendall(request(target))
        assert_error_body(read_reply(sock), 414, 1009, target)
        assert seconds_until_closed(sock, 3) is not None
    healthy(server)


def _headers_of(length: int) -> bytes:
    """Header lines (each with its CRLF) of exactly `length` bytes, `Host` first."""
    lines = b"Host: x\r\n"
    while len(lines) + 1024 < length:
        lines += b"X-Pad-%04d: " % (len(lines) % 10000) + b"p" * (1024 - 14) + b"\r\n"
    rest = length - len(lines) - len(b"X-Last: \r\n")
    return lines + b"X-Last: " + b"q" * rest + b"\r\n"


def test_headers_of_64_kib_are_served_and_one_byte_more_is_431(server: ServeProcess) -> None:
    for size, status in ((65536, 200), (65537, 431)):
        block = _headers_of(size)
        assert len(block) == size
        with connect(server.port) as sock:
            sock.sendall(b"GET /-/health HTTP/1.1\r\n" + block + b"\r\n")
            reply = read_reply(sock)
            if status == 200:
                assert reply is not None and reply.status == 200, reply and reply.body[:300]
            else:
                assert_error_body(reply, 431, 1009, "/-/health")
    healthy(server)


def test_100_000_headers_are_431(server: ServeProcess) -> None:
    with connect(server.port) as sock:
        sock.sendall(b"GET /-/health HTTP/1.1\r\n" + b"a: b\r\n" * 100_000 + b"\r\n")
        assert_error_body(read_reply(sock), 431, 1009, "/-/health")
    healthy(server)


def test_an_80_mb_header_is_refused_without_stalling_the_server(server: ServeProcess) -> None:
    """One unauthenticated request with an 80 MB header value used to block the event loop for seconds."""
    latencies: list[float] = []
    stop = threading.Event()

    def probe() -> None:
        with connect(server.port) as sock:
            while not stop.is_set():
                started = time.monotonic()
                sock.sendall(request())
                reply = read_reply(sock)
                assert reply is not None and reply.status == 200
                latencies.append(time.monotonic() - started)
                time.sleep(0.01)

    prober = threading.Thread(target=probe)
    prober.start()
    time.sleep(0.2)
    replies: list[Reply | None] = []
    started = time.monotonic()
    with connect(server.port, timeout=30) as sock:
        sock.sendall(b"GET /-/health HTTP/1.1\r\nHost: x\r\nX-Big: ")
        chunk = b"b" * (1 << 20)
        sent = 0
        try:
            for _ in range(80):
                sock.sendall(chunk)
                sent += 1
                sock.settimeout(0)  # an answer already there: stop sending, as a client reading it would
                try:
                    peek = sock.recv(1, socket.MSG_PEEK)
                except BlockingIOError:
                    peek = b""
                sock.settimeout(30)
                if peek:
                    break
        except OSError:
            pass  # the server closed while we were still sending: the answer may still be readable
        replies.append(read_reply(sock))
    seconds = time.monotonic() - started
    time.sleep(0.2)
    stop.set()
    prober.join()
    assert_error_body(replies[0], 431, 1009, "/-/health")
    assert max(latencies) < 0.5, f"health took {max(latencies):.2f}s next to the big header"
    assert seconds < 5, seconds
    assert sent < 80, "the server kept reading the whole header"
    healthy(server)


# -- timeouts: header 1 s (30 s by default), keep-alive 2 s (75 s by default) -----------------------------


def test_a_connection_that_never_sends_is_closed_after_the_header_timeout(server: ServeProcess) -> None:
    with connect(server.port) as sock:
        closed = seconds_until_closed(sock, HEADER_TIMEOUT + 3)
    assert closed is not None, "an idle connection that never sent a byte is still open"
    assert HEADER_TIMEOUT - 0.2 <= closed <= HEADER_TIMEOUT + 1, closed


def test_headers_dripped_past_the_header_timeout_are_cut_off(server: ServeProcess) -> None:
    with connect(server.port) as sock:
        sock.sendall(b"GET /-/health HTTP/1.1\r\nX-Slow: ")
        started = time.monotonic()
        closed = False
        try:
            while time.monotonic() - started < HEADER_TIMEOUT + 3:
                sock.sendall(b"s")
                if seconds_until_closed(sock, 0.1) is not None:
                    closed = True
                    break
        except OSError:
            closed = True
        elapsed = time.monotonic() - started
    assert closed, "a head dripped for longer than the header timeout is still being read"
    assert elapsed <= HEADER_TIMEOUT + 1, elapsed


def test_kept_alive_connection_idle_is_the_keepalive_timeouts_then_the_header_timer_runs(
    server: ServeProcess,
) -> None:
    with connect(server.port) as sock:
        sock.sendall(request())
        served(sock)
        # Idle past the header timeout but within the keep-alive timeout: still open, still served.
        assert seconds_until_closed(sock, HEADER_TIMEOUT + 0.5) is None
        sock.sendall(request())
        served(sock)
        # The start of a request, then nothing: closed one header timeout after its first byte.
        sock.sendall(b"GET /-/health HTTP/1.1\r\n")
        closed = seconds_until_closed(sock, HEADER_TIMEOUT + 3)
    assert closed is not None and closed <= HEADER_TIMEOUT + 1, closed


def test_idle_kept_alive_connection_is_closed_after_the_keepalive_timeout(server: ServeProcess) -> None:
    with connect(server.port) as sock:
        sock.sendall(request())
        served(sock)
        closed = seconds_until_closed(sock, KEEPALIVE + 3)
    assert closed is not None and KEEPALIVE - 0.2 <= closed <= KEEPALIVE + 1, closed


# -- the connection bound ------------------------------------------------------------------------------------


def test_connections_past_the_bound_get_503_and_are_closed(tmp_path: Path) -> None:
    bound = 8
    server = ServeProcess(tmp_path / "data", env={"TRACKTION_MAX_CONNECTIONS": str(bound)})
    server.start()
    time.sleep(LINGER_WAIT)  # the start-up health probes' connections are gone
    idle = [connect(server.port) for _ in range(bound)]
    try:
        time.sleep(0.2)
        with connect(server.port) as sock:
            sock.sendall(request())
            reply = read_reply(sock)
            body = assert_error_body(reply, 503, 5002, "")
            assert reply is not None and reply.headers["retry-after"] == "1", body
            assert seconds_until_closed(sock, 3) is not None
        for sock in idle[: bound // 2]:
            sock.close()
        time.sleep(0.3)
        healthy(server)  # room again
        # An open connection of the bound is served as usual.
        idle[-1].sendall(request())
        served(idle[-1])
    finally:
        for sock in idle:
            sock.close()
        server.kill()


LINGER_WAIT = 0.5


# -- framing errors: the §1.6 body ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "status", "code", "path"),
    [
        (b"FOO /-/health HTTP/1.1\r\nHost: x\r\n\r\n", 501, 3003, "/-/health"),
        (b"get /-/health HTTP/1.1\r\nHost: x\r\n\r\n", 501, 3003, "/-/health"),
        (b"GET /-/health HTTP/1.1\nHost: x\n\n", 400, 1000, "/-/health"),
        (b"GET /-/health HTTP/1.1\r\nHost: x\nX: y\r\n\r\n", 400, 1000, "/-/health"),
        (b"GET /a b HTTP/1.1\r\n\r\n", 400, 1000, "/a"),
        (b"GET /-/health HTTP/1.1\r\nBad Header: x\r\n\r\n", 400, 1000, "/-/health"),
        (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(range(32)), 501, 3003, ""),  # a TLS hello
        (
            b"POST /v4/events/custom HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
            400,
            1000,
            "/v4/events/custom",
        ),
    ],
)
def test_framing_errors_get_the_error_body(
    server: ServeProcess, raw: bytes, status: int, code: int, path: str
) -> None:
    with connect(server.port) as sock:
        sock.sendall(raw)
        assert_error_body(read_reply(sock), status, code, path)
        assert seconds_until_closed(sock, 3) is not None
    healthy(server)
