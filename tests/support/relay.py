"""The relay's test counterparts (tests/relay/): a webhook receiver that checks every signature, the fast
retry settings, and small helpers over `Api`.

The receiver is a real HTTP server on a thread (the relay reaches it over TCP like any target). Its
`respond` hook decides each answer from the items received, so tests inject 500s, 429s, 400s for chosen
items, slow answers and dropped connections.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.support.api import Api

SECRET = "whsec_" + base64.b64encode(b"a test secret of 32 bytes, fine!").decode()
FAST = {"relay_backoff_base_seconds": 0.02, "relay_backoff_cap_seconds": 0.3, "relay_lease_seconds": 2.0}

# (status, extra headers) or None = drop the connection without answering
Answer = tuple[int, dict[str, str]] | None


class WebhookReceiver:
    def __init__(self, secret: str = SECRET) -> None:
        self.key = (
            base64.b64decode(secret.removeprefix("whsec_"))
            if secret.startswith("whsec_")
            else secret.encode()
        )
        self.requests: list[dict[str, Any]] = []  # every request received, answered or not
        self.accepted: list[dict[str, Any]] = []  # items of the 2xx answers, in order
        self.bad_signatures = 0
        self.respond: Callable[[list[dict[str, Any]]], Answer] = lambda items: (204, {})
        self.erasure_requests: list[dict[str, Any]] = []  # every erasure notice received (§15.1)
        self.erasures: list[dict[str, Any]] = []  # the notices answered with a 2xx
        self.respond_erasure: Callable[[dict[str, Any]], Answer] = lambda payload: (204, {})
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                msg_id, ts = self.headers["webhook-id"], self.headers["webhook-timestamp"]
                mac = hmac.new(receiver.key, f"{msg_id}.{ts}.".encode() + body, hashlib.sha256).digest()
                good = self.headers.get("webhook-signature") == "v1," + base64.b64encode(mac).decode()
                payload = json.loads(body)
                if payload.get("type") == "erasure":  # §15.1: a notice, answered by `respond_erasure`
                    with receiver.lock:
                        receiver.erasure_requests.append({"id": msg_id, "payload": payload})
                        if not good:
                            receiver.bad_signatures += 1
                    status, _ = receiver.respond_erasure(payload) or (500, {})
                    if 200 <= status < 300:
                        with receiver.lock:
                            receiver.erasures.append(payload)
                    self.send_response(status)
                    self.send_header("content-length", "0")
                    self.end_headers()
                    return
                items = payload["items"]
                with receiver.lock:
                    receiver.requests.append(
                        {
                            "id": msg_id,
                            "headers": {k.lower(): v for k, v in self.headers.items()},
                            "items": items,
                        }
                    )
                    if not good:
                        receiver.bad_signatures += 1
                answer = receiver.respond(items)
                if answer is None:
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                status, headers = answer
                if 200 <= status < 300:
                    with receiver.lock:
                        receiver.accepted.extend(items)
                text = b"" if status < 300 else json.dumps({"error": f"status {status}"}).encode()
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("content-length", str(len(text)))
                self.end_headers()
                self.wfile.write(text)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def uuids(self) -> list[str]:
        with self.lock:
            return [i["uuid"] for i in self.accepted]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


async def eventually(check: Callable[[], Any], timeout: float = 20.0, every: float = 0.05) -> Any:
    """Wait until `check()` (sync or async) returns something truthy; fail with its last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out; last value {value!r}")
        await asyncio.sleep(every)


async def create_destination(api: Api, **body: Any) -> dict[str, Any]:
    r = await api.post("/-/api/destinations", body)
    assert r.status_code == 201, r.text
    created: dict[str, Any] = r.json()
    return created


async def status(api: Api, dest_id: str) -> dict[str, Any]:
    r = await api.get(f"/-/api/destinations/{dest_id}/status")
    assert r.status_code == 200, r.text
    found: dict[str, Any] = r.json()
    return found


def batch_of(n: int, start: int = 0, **params: Any) -> list[dict[str, Any]]:
    return [
        {
            "action": "page.visit",
            "label": f"visit {i}",
            "client": {"customId": f"c{i % 7}"},
            "params": {"n": i, **params},
        }
        for i in range(start, start + n)
    ]
