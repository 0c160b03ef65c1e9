"""tracktion's HTTP/1.1 connections: uvicorn's httptools protocol with the limits of docs/api.md §12.

uvicorn + httptools is the fastest server measured for this workload (granian: 0.63× the events/s), but on
its own it reads a request head of any size (an 80 MB header blocked the event loop for 2.7 s: llhttp hands
a header value over in pieces and httptools joins them, quadratically), accepts any number of headers,
keeps a connection that never sends a byte open for ever, and answers framing errors in text/plain. This
subclass closes those gaps and changes nothing else on the request path:

* **Head size.** Bytes are counted before the parser sees them: the request line may hold 8 KiB, the
  header lines 64 KiB together. Past that, the parser is not fed another byte; the client gets 414 or 431
  with the §1.6 body and the connection is closed. (A request head that starts inside the same read as the
  end of the previous request is counted from the next read: at most one read, 250 kB with uvloop, goes
  uncounted.)
* **Header timeout.** A request's headers must arrive within `TRACKTION_HEADER_TIMEOUT_SECONDS` (30 s)
  of the connection being made, or, on a kept-alive connection, of the first byte of that request: an idle
  kept-alive connection is the keep-alive timeout's (75 s), else that one could never be reached.
  Past it the connection is closed.
* **Connections.** At most `TRACKTION_MAX_CONNECTIONS` per server process. The next one is answered 503
  (5002, `Retry-After: 1`) at once, without reading its request, and closed.
* **Framing errors** (bad request line, bare LF, an unknown method, a malformed header) get the §1.6 body:
  400 (1000), or 501 (3003) for a method the parser does not know (RFC 9110 §9.1), then the connection is
  closed.
* **Upgrades** (WebSocket, h2c) are not served: the request is answered as plain HTTP/1.1 and the
  connection closed after it (the parser reads nothing past an upgrade request).

Every answer given here is followed by a short lingering close: our side is shut for writing and what the
client still sends is read and dropped for up to `LINGER_SECONDS`, so it has the time to read the answer
instead of losing it to a reset (a client still sending an 80 MB header gets its 431).
"""

from __future__ import annotations

import asyncio
import logging
import urllib.parse
from dataclasses import dataclass
from typing import Any

import httptools
import msgspec
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from tracktion.clock import now_ms
from tracktion.domain.event_ids import random_event_uuid
from tracktion.domain.timefmt import format_ms
from tracktion.errors import ErrorEntry, NotImplementedYet, Overloaded, TracktionError, error_body
from tracktion.settings import Settings

log = logging.getLogger("tracktion.http")

REQUEST_LINE_BYTES = 8 * 1024  # §12, not counting its CRLF
HEADER_BYTES = 64 * 1024  # §12: every header line with its CRLF
LINGER_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class Limits:
    header_timeout: float = 30.0
    keepalive_timeout: float = 75.0
    max_connections: int = 1024


# Set once per server process by `configure` (worker processes call it from their app factory): uvicorn
# builds the protocol from its class, so the settings reach it here.
_limits = Limits()


def configure(settings: Settings) -> None:
    global _limits
    _limits = Limits(
        header_timeout=float(settings.header_timeout_seconds),
        keepalive_timeout=float(settings.keepalive_timeout_seconds),
        max_connections=settings.max_connections,
    )


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """What `tracktion serve` passes to uvicorn for its connections."""
    configure(settings)
    return {
        "http": HttpProtocol,
        "ws": "none",  # no WebSocket endpoint: an upgrade request is plain HTTP (see HttpProtocol)
        "timeout_keep_alive": settings.keepalive_timeout_seconds,
    }


class _FrameError(TracktionError):
    status, code, reason, default_message = 400, 1000, "malformed request", "Malformed HTTP request"


class _TooLong(TracktionError):
    status, code, reason = 414, 1009, "request line too long"
    default_message = f"Request line too long (max {REQUEST_LINE_BYTES} bytes)"


class _HeadersTooLarge(TracktionError):
    status, code, reason = 431, 1009, "request headers too large"
    default_message = f"Request headers too large (max {HEADER_BYTES} bytes)"


_encode = msgspec.json.encode


class HttpProtocol(HttpToolsProtocol):
    """One client connection (see the module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.limits = _limits
        self._in_head = True  # between requests or inside a request's head: the part that is metered
        self._line_open = True  # still inside the request line
        self._line_bytes = 0
        self._header_bytes = 0
        # A request line received over several reads (≤ 8 KiB), for the error body's path. A line that comes
        # whole in one read (nearly always) is not copied: see `_path`.
        self._first_line = b""
        self._header_timer: asyncio.TimerHandle | None = None
        self._head_deadline: float | None = None  # when the head being received must be complete
        self._linger_timer: asyncio.TimerHandle | None = None
        self._dropping = False  # answered and closing: whatever arrives is read and dropped
        self.url = b""  # the request target as the parser read it (uvicorn sets it per message)

    # -- connection ------------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        over = len(self.connections) >= self.limits.max_connections
        super().connection_made(transport)
        if over:
            log.warning(
                "refused a connection: %d open (TRACKTION_MAX_CONNECTIONS)", len(self.connections) - 1
            )
            self._answer(Overloaded("Too many open connections, retry later"), "")
            return
        self._head_begins()  # from connect

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_header_timer()
        if self._linger_timer is not None:
            self._linger_timer.cancel()
            self._linger_timer = None
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._dropping:
            return
        self._unset_keepalive_if_required()
        if self._in_head and self._line_open and not self._line_bytes:
            # The usual read: a whole request (head and body) or the start of one. One search for the end
            # of the request line; when the line and everything after it are within the limits, the parser
            # gets the read as it is.
            if self._head_deadline is None:
                self._head_begins()  # the first byte of a request on a kept-alive connection
            end = data.find(b"\n", 0, REQUEST_LINE_BYTES + 2)
            if end >= 0 and len(data) - end - 1 <= HEADER_BYTES + 2:
                self._line_open = False
                self._header_bytes = len(data) - end - 1
                self._feed(data)
                return
        while data:
            if not self._in_head:
                self._feed(data)
                return
            if self._head_deadline is None:
                self._head_begins()  # the first byte of a request on a kept-alive connection
            allowed = self._meter(data)
            if allowed is None:
                return  # refused: answered and closing
            if allowed == len(data):
                self._feed(data)
                return
            piece, data = data[:allowed], data[allowed:]
            self._feed(piece)
            if self._dropping or self.transport.is_closing():
                return

    def _feed(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserInvalidMethodError:
            self._refuse(NotImplementedYet("Method not implemented"), self._first_line or data)
        except httptools.HttpParserError as exc:
            problem = ErrorEntry(1000, "", "Malformed HTTP request", str(exc)[:256])
            self._refuse(_FrameError(errors=[problem]), self._first_line or data)
        except httptools.HttpParserUpgrade:
            # The request before the upgrade is being answered as plain HTTP; the parser reads nothing after
            # it, so the connection ends with that answer.
            self._dropping = True
            if self.cycle is not None and not self.cycle.response_complete:
                self.cycle.keep_alive = False
            else:
                self.transport.close()

    # -- the head's size (§12) -------------------------------------------------------------------------

    def _meter(self, data: bytes) -> int | None:
        """How many bytes of `data` the parser may have: all of them, or up to where a limit would be
        passed (the parser then either ends the head within them or gets no more). None: refused."""
        taken = 0
        if self._line_open:
            room = REQUEST_LINE_BYTES + 2 - self._line_bytes  # the line, its CR and its LF
            end = data.find(b"\n", 0, room)
            if end < 0:
                if len(data) >= room:
                    self._refuse(_TooLong(), self._first_line + data[:room])
                    return None
                self._first_line += data
                self._line_bytes += len(data)
                return len(data)
            if self._first_line:
                self._first_line += data[:end]
            self._line_open = False
            taken = end + 1
        room = HEADER_BYTES + 2 - self._header_bytes  # the header lines and the empty line ending them
        if room <= 0 and taken < len(data):
            self._refuse(_HeadersTooLarge(), None)
            return None
        more = min(len(data) - taken, room)
        self._header_bytes += more
        return taken + more

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._head_deadline = None  # the timer, if it fires, finds nothing to do
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        # What follows on this connection is the next request's head: metered from its first byte.
        self._in_head = True
        self._line_open = True
        self._line_bytes = self._header_bytes = 0
        self._first_line = b""

    # -- the header timer (§12) ---------------------------------------------------------------------------
    # One timer per connection at most, re-armed lazily: a head only sets its deadline, so a busy kept-alive
    # connection costs one timer per header timeout, not a timer and a cancellation per request.

    def _head_begins(self) -> None:
        self._head_deadline = self.loop.time() + self.limits.header_timeout
        if self._header_timer is None:
            self._header_timer = self.loop.call_later(self.limits.header_timeout, self._check_head)

    def _check_head(self) -> None:
        self._header_timer = None
        deadline = self._head_deadline
        if deadline is None or self._dropping or self.transport.is_closing():
            return
        left = deadline - self.loop.time()
        if left > 0:
            self._header_timer = self.loop.call_later(left, self._check_head)
        else:
            self.transport.close()  # the headers did not arrive in time

    def _cancel_header_timer(self) -> None:
        self._head_deadline = None
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    # -- answers given here ------------------------------------------------------------------------------

    def _refuse(self, error: TracktionError, received: bytes | None) -> None:
        """Answer `error` and close. `received`: the request line as far as it is known, from its start,
        for the path of the error body when the parser did not read the target."""
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            if self._in_head or cycle.response_started:
                # An answer is under way (a request before this one, or this one's own): nothing can go in
                # between. It is the connection's last; nothing more is read.
                self._dropping = True
                cycle.keep_alive = False
                self.flow.pause_reading()
                return
            # This request's body is malformed (a bad chunk) while the app waits for it: the app is told the
            # client left (its answer, if any, goes nowhere) and this one is the answer.
            cycle.disconnected = True
            cycle.message_event.set()
        self._answer(error, self._path(received))

    def _answer(self, error: TracktionError, path: str) -> None:
        """The §1.6 answer of `error`, `Connection: close`, then a lingering close."""
        body = _encode(error_body(error.status, error.errors, path, format_ms(now_ms())))
        headers = [
            *self.server_state.default_headers,
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"x-request-id", random_event_uuid().encode()),
            *((k.encode(), v.encode()) for k, v in error.headers.items()),
            (b"connection", b"close"),
        ]
        head = b"".join(name + b": " + value + b"\r\n" for name, value in headers)
        self.transport.write(STATUS_LINE[error.status] + head + b"\r\n" + body)
        self._linger()

    def _linger(self) -> None:
        self._dropping = True
        self._cancel_header_timer()
        self._unset_keepalive_if_required()
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self._linger_timer = self.loop.call_later(LINGER_SECONDS, self.transport.close)

    def _path(self, received: bytes | None) -> str:
        """The request's path as far as it was received (§1.6 `path`), or "" before there is one: the target
        the parser read, else the request line taken from the bytes (an unknown method stops the parser
        before the target)."""
        if not self._line_open and self.url:
            target = self.url
        else:
            parts = (received or b"").split(b"\n", 1)[0].split(b" ")
            if len(parts) < 2:
                return ""
            target = parts[1]
        if not target.startswith(b"/"):
            return ""
        return urllib.parse.unquote(target.split(b"?", 1)[0].decode("latin-1"))

    def _unsupported_upgrade_warning(self) -> None:
        pass  # uvicorn would log two warnings per upgrade request (a free way to fill the log)
