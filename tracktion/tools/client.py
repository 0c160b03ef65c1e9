"""A tiny HTTP client for the tracktion API, stdlib only (`http.client`).

- `Client.login()` trades the workspace API key for a token (`POST /uauth/v2/auth/login/profile`, §2.2) and
  logs in again before the token expires or when a request answers 401 (nothing is stored on a 401, §1.4,
  so repeating the request is safe).
- `Client.request()` sends one request on a kept-alive connection and returns a `Response` whatever the
  status; `ApiError` carries a non-2xx answer and explains Synerise's error body (§1.6, §1.7).
- `Client.stream()` reads server-sent events (§13.5) with `SSEParser`.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import socket
import ssl
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tracktion import __version__
from tracktion.tools import ToolError

URL_ENV = "TRACKTION_URL"
API_KEY_ENV = "TRACKTION_API_KEY"
LOGIN_PATH = "/uauth/v2/auth/login/profile"
USER_AGENT = f"tracktion-cli/{__version__}"
_REFRESH_MARGIN_S = 60  # log in again this long before the token's `exp`

# §1.7, for explaining an error body to a person.
CODE_MEANINGS: dict[int, str] = {
    1000: "malformed JSON or gzip",
    1001: "not the expected JSON object or array",
    1002: "required value missing or null",
    1003: "empty value",
    1004: "wrong JSON type",
    1005: "wrong format (pattern, UUID, e-mail, time or currency)",
    1006: "out of range",
    1007: "value not allowed",
    1008: "forbidden characters",
    1009: "too long",
    1010: "conflict (action, params.email or currency)",
    1011: "unknown batch item type",
    1012: "too many batch items (at most 1000)",
    1013: "empty batch",
    1014: "payload too large (at most 1 MiB)",
    1015: "unsupported media type or encoding",
    1016: "unsupported Api-Version",
    1017: "bad query or path parameter",
    2001: "bad, missing or revoked credentials",
    2002: "token expired",
    2003: "permission missing",
    2004: "profile token used for another profile",
    2005: "token kind not allowed here",
    3001: "not found",
    3002: "method not allowed",
    3003: "not implemented",
    5000: "internal server error",
    5001: "storage unavailable",
    5002: "server overloaded",
}
_HINTS: dict[int, str] = {
    2001: "check --api-key / TRACKTION_API_KEY: a workspace API key (profile keys cannot log in here)",
    2003: "the API key lacks this endpoint's permission: `tracktion keys create --permission NAME` makes one",
    5001: "nothing was stored; try again",
    5002: "nothing was stored; try again later",
}


def default_url(env: Mapping[str, str] | None = None) -> str:
    """Where `tracktion serve` listens with the same environment: `TRACKTION_HOST` and `TRACKTION_PORT`
    (defaults 127.0.0.1 and 8080), so a shell that moved the server moves its clients too. A wildcard
    listen address (0.0.0.0, ::) is reached on the loopback address of its family."""
    env = os.environ if env is None else env
    host = env.get("TRACKTION_HOST") or "127.0.0.1"
    port = env.get("TRACKTION_PORT") or "8080"
    if not (port.isascii() and port.isdigit()):
        raise ToolError(f"TRACKTION_PORT={port!r} is not a port number (or pass --url / set {URL_ENV})")
    host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"  # an IPv6 address in a URL
    return f"http://{host}:{int(port)}"


def resolve_connection(url: str | None, api_key: str | None) -> tuple[str, str]:
    """`--url`/`--api-key`, else `TRACKTION_URL`/`TRACKTION_API_KEY`; the URL defaults to the server's
    (`default_url`)."""
    url = url or os.environ.get(URL_ENV) or default_url()
    api_key = api_key or os.environ.get(API_KEY_ENV)
    if not api_key:
        raise ToolError(f"an API key is needed: pass --api-key or set {API_KEY_ENV}")
    return url, api_key


@dataclass(slots=True)
class Response:
    status: int
    reason: str
    headers: dict[str, str]  # lower-cased names
    body: bytes

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


class NetworkError(ToolError, OSError):
    """No answer from the server (refused, unknown host, timeout, TLS, connection dropped): one line that
    names the URL. Also an `OSError`, so the callers that retry network failures (`tail` once connected,
    `import`) keep treating it as one."""

    @classmethod
    def of(cls, url: str, exc: BaseException) -> NetworkError:
        if isinstance(exc, NetworkError):
            return exc
        if isinstance(exc, ConnectionRefusedError):
            why = "connection refused (is `tracktion serve` running there? see --url / TRACKTION_URL)"
        elif isinstance(exc, socket.gaierror):
            why = f"unknown host ({exc.strerror or exc})"
        elif isinstance(exc, TimeoutError):
            why = "timed out"
        elif isinstance(exc, http.client.RemoteDisconnected):
            why = "the server closed the connection without answering"
        elif isinstance(exc, ssl.SSLError):
            why = f"TLS: {exc.reason or exc}"
        elif isinstance(exc, OSError) and exc.strerror:
            why = exc.strerror[0].lower() + exc.strerror[1:]
        else:
            why = str(exc) or type(exc).__name__
        return cls(f"cannot reach {url}: {why}")


class ApiError(ToolError):
    """A non-2xx answer; `str()` is the explained error body."""

    def __init__(self, method: str, path: str, response: Response) -> None:
        self.method = method
        self.path = path
        self.response = response
        super().__init__(explain(response, method, path))


def explain(response: Response, method: str = "", path: str = "") -> str:
    """A person-readable rendering of Synerise's error body: status, message, then each error's field,
    message and code meaning, plus a hint for the common credential and overload cases."""
    request_id = response.headers.get("x-request-id")
    context = f"{method} {path}" if method else ""
    if request_id:
        context += f" (request id {request_id})" if context else f"request id {request_id}"
    try:
        data = response.json()
    except ValueError:
        data = None
    if not isinstance(data, dict) or not isinstance(data.get("errors"), list):
        text = response.body.decode("utf-8", "replace").strip()[:500]
        lines = [f"{response.status} {response.reason}" + (f": {text}" if text else "")]
        return "\n".join(lines + ([f"  request: {context}"] if context else []))
    lines = [f"{response.status} {data.get('error') or response.reason}: {data.get('message')}"]
    if context:
        lines.append(f"  request: {context}")
    hints: list[str] = []
    for entry in data["errors"]:
        lines.append("  - " + explain_entry(entry))
        code = entry.get("code") if isinstance(entry, dict) else None
        hint = _HINTS.get(code) if isinstance(code, int) else None
        if hint and hint not in hints:
            hints.append(hint)
    retry_after = response.headers.get("retry-after")
    if retry_after:
        hints.append(f"the server asks to retry after {retry_after} s")
    lines += [f"  hint: {h}" for h in hints]
    return "\n".join(lines)


def explain_entry(entry: Any) -> str:
    """One §1.6 error entry: `field: message [code N: meaning; rejected value "…"]`."""
    if not isinstance(entry, dict):
        return str(entry)
    code = entry.get("code")
    field_name = entry.get("field") or "(whole body)"
    detail = f"code {code}"
    if isinstance(code, int) and code in CODE_MEANINGS:
        detail += f": {CODE_MEANINGS[code]}"
    if entry.get("rejectedValue") is not None:
        detail += f"; rejected value {json.dumps(entry['rejectedValue'], ensure_ascii=False)}"
    return f"{field_name}: {entry.get('message')} [{detail}]"


def token_expiry(token: str) -> float | None:
    """The `exp` claim of a JWT (not verified: only to know when to log in again)."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return float(claims["exp"])
    except (IndexError, ValueError, KeyError, TypeError):
        return None


def encode_json(value: Any) -> bytes:
    """Compact UTF-8 JSON; NaN/Infinity are refused (the server would answer 400, code 1000)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


# -- server-sent events --------------------------------------------------------------------------------
@dataclass(slots=True)
class SSEEvent:
    event: str = "message"
    data: str = ""
    id: str | None = None  # the last event id in force when this event was dispatched


@dataclass(slots=True)
class SSEParser:
    """The `text/event-stream` line protocol (WHATWG HTML §9.2.6), fed one line at a time."""

    last_id: str | None = None
    retry_ms: int | None = None
    _event: str = ""
    _data: list[str] = field(default_factory=list)

    def feed(self, line: str) -> SSEEvent | None:
        line = line.rstrip("\r\n")
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None  # comment (`: ping`)
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id":
            if "\x00" not in value:
                self.last_id = value
        elif name == "retry" and value.isascii() and value.isdigit():
            self.retry_ms = int(value)
        return None

    def _dispatch(self) -> SSEEvent | None:
        event, data = self._event, self._data
        self._event, self._data = "", []
        if not data:
            return None
        return SSEEvent(event or "message", "\n".join(data), self.last_id)


# -- the client ---------------------------------------------------------------------------------------
class Client:
    def __init__(
        self,
        url: str,
        api_key: str,
        *,
        timeout: float = 30.0,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ToolError(f"not an http(s) URL: {url!r}")
        self.url = url.rstrip("/")
        self._scheme = parts.scheme
        self._host = parts.hostname
        self._port = parts.port
        self._prefix = parts.path.rstrip("/")
        self.api_key = api_key
        self.timeout = timeout
        self.headers = dict(headers or {})
        self.token: str | None = None
        self._token_exp: float | None = None
        self._conn: http.client.HTTPConnection | None = None
        self._reused = False

    # connections
    def _connect(self, timeout: float | None = None) -> http.client.HTTPConnection:
        t = self.timeout if timeout is None else timeout
        if self._scheme == "https":
            return http.client.HTTPSConnection(self._host, self._port, timeout=t)
        return http.client.HTTPConnection(self._host, self._port, timeout=t)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _url(self, path: str, query: Mapping[str, Any] | Sequence[tuple[str, Any]] | None) -> str:
        target = self._prefix + path
        if query:
            target += "?" + urllib.parse.urlencode(query, doseq=True)
        return target

    # auth
    def login(self) -> str:
        r = self._send("POST", LOGIN_PATH, encode_json({"apiKey": self.api_key}), None, {})
        if r.status != 200:
            raise ApiError("POST", LOGIN_PATH, r)
        token = r.json()["token"]
        self.token = token
        self._token_exp = token_expiry(token)
        return str(token)

    def _auth(self) -> dict[str, str]:
        stale = self._token_exp is not None and time.time() > self._token_exp - _REFRESH_MARGIN_S
        if self.token is None or stale:
            self.login()
        return {"Authorization": f"Bearer {self.token}"}

    # requests
    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        raw: bytes | None = None,
        query: Mapping[str, Any] | Sequence[tuple[str, Any]] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Response:
        """Send with a token (logging in as needed); a 401 means nothing was processed, so after a
        fresh login the request is sent once more."""
        data = raw if raw is not None else (encode_json(body) if body is not None else None)
        r = self._send(method, path, data, query, {**self._auth(), **(headers or {})})
        if r.status == 401:
            self.token = None
            r = self._send(method, path, data, query, {**self._auth(), **(headers or {})})
        return r

    def get_json(self, path: str, query: Mapping[str, Any] | Sequence[tuple[str, Any]] | None = None) -> Any:
        r = self.request("GET", path, query=query)
        if not r.ok:
            raise ApiError("GET", path, r)
        return r.json()

    def _send(
        self,
        method: str,
        path: str,
        data: bytes | None,
        query: Mapping[str, Any] | Sequence[tuple[str, Any]] | None,
        headers: Mapping[str, str],
    ) -> Response:
        h = {"User-Agent": USER_AGENT, "Accept": "application/json", **self.headers, **headers}
        if data is not None:
            h.setdefault("Content-Type", "application/json")
        target = self._url(path, query)
        for attempt in (1, 2):
            if self._conn is None:
                self._conn = self._connect()
                self._reused = False
            reused = self._reused
            try:
                self._conn.request(method, target, body=data, headers=h)
                resp = self._conn.getresponse()
                body = resp.read()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as exc:
                self.close()
                # A kept-alive connection the server had already closed: the request never arrived.
                if reused and attempt == 1:
                    continue
                raise NetworkError.of(self.url, exc) from exc
            except (OSError, http.client.HTTPException) as exc:
                self.close()
                raise NetworkError.of(self.url, exc) from exc
            except BaseException:
                self.close()
                raise
            self._reused = True
            if resp.will_close:
                self.close()
            headers_out = {k.lower(): v for k, v in resp.getheaders()}
            return Response(resp.status, resp.reason, headers_out, body)
        raise AssertionError("unreachable")

    def stream(
        self,
        path: str,
        query: Mapping[str, Any] | Sequence[tuple[str, Any]] | None = None,
        *,
        last_event_id: str | None = None,
        read_timeout: float = 45.0,
        parser: SSEParser | None = None,
        on_open: Callable[[], None] | None = None,
    ) -> Iterator[SSEEvent]:
        """Yield the events of one SSE connection until the server closes it. A non-200 answer raises
        `ApiError` (after one fresh login on 401); network failures raise `NetworkError`. `on_open` is
        called once the server has answered 200 (before any event)."""
        parser = parser or SSEParser(last_id=last_event_id)
        target = self._url(path, query)
        for attempt in (1, 2):
            h = {
                "User-Agent": USER_AGENT,
                "Accept": "text/event-stream",
                "Cache-Control": "no-cache",
                "X-Request-Id": f"tail-{uuid.uuid4().hex[:16]}",
                **self.headers,
                **self._auth(),
            }
            if last_event_id is not None:
                h["Last-Event-ID"] = last_event_id
            conn = self._connect(read_timeout)
            try:
                conn.request("GET", target, headers=h)
                resp = conn.getresponse()
                if resp.status == 401 and attempt == 1:
                    resp.read()
                    self.token = None
                    continue
                if resp.status != 200:
                    r = Response(
                        resp.status, resp.reason, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
                    )
                    raise ApiError("GET", path, r)
                if on_open is not None:
                    on_open()
                while True:
                    raw_line = resp.readline()
                    if not raw_line:
                        return  # the server closed the stream
                    event = parser.feed(raw_line.decode("utf-8", "replace"))
                    if event is not None:
                        yield event
            except (OSError, http.client.HTTPException) as exc:
                raise NetworkError.of(self.url, exc) from exc
            finally:
                conn.close()
