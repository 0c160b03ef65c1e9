"""A small fault-injecting HTTP proxy of the tests' own: forwards to a real target and, per request, may
answer 429 with `Retry-After`, a 5xx, a 400 for chosen items, answer slowly, or drop the connection."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

# What to do with one request: None = forward; ("status", code, headers) = answer that; ("drop",) = close
# the connection without answering; ("slow", seconds) = wait, then forward. GET and DELETE requests (the
# relay's erasure notices, §15.1) go through the same hook with their path and no body.
Fault = tuple[Any, ...] | None


class FaultProxy:
    def __init__(self, target: str) -> None:
        self.target = target
        self.fault: Callable[[str, Any], Fault] = lambda path, body: None
        self.log: list[tuple[str, int | None]] = []  # (path, status answered or None if dropped)
        self.lock = threading.Lock()
        proxy = self
        client = httpx.Client(timeout=60)

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                self.do_POST("GET")

            def do_DELETE(self) -> None:
                self.do_POST("DELETE")

            def do_POST(self, method: str = "POST") -> None:
                raw = self.rfile.read(int(self.headers.get("content-length") or 0))
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = None
                fault = proxy.fault(self.path, body)
                if fault is not None and fault[0] == "drop":
                    with proxy.lock:
                        proxy.log.append((self.path, None))
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                if fault is not None and fault[0] == "status":
                    self._answer(fault[1], fault[2] if len(fault) > 2 else {}, b'{"error": "injected"}')
                    return
                if fault is not None and fault[0] == "slow":
                    time.sleep(fault[1])
                headers = {
                    k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")
                }
                r = client.request(method, proxy.target + self.path, content=raw or None, headers=headers)
                self._answer(r.status_code, {}, r.content, r.headers.get("content-type"))

            def _answer(
                self, status: int, headers: dict[str, str], body: bytes, ctype: str | None = None
            ) -> None:
                with proxy.lock:
                    proxy.log.append((self.path, status))
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                if ctype:
                    self.send_header("content-type", ctype)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                with contextlib.suppress(OSError):  # the relay gave up on this answer (killed, timed out)
                    self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def statuses(self, path: str) -> list[int | None]:
        with self.lock:
            return [s for p, s in self.log if p == path]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
