"""`webhook` destinations (docs/api.md §14.1): one signed POST per batch, Standard Webhooks style.

The signature is `v1,<base64 HMAC-SHA256(key, "{webhook-id}.{webhook-timestamp}.{body}")>`; the key is the
decoded bytes of a `whsec_<base64>` secret (as the Standard Webhooks libraries make them) or the UTF-8 bytes
of any other secret. `webhook-id` is derived from the items (`delivery_id`), so every retry of the same items
carries the same id and a receiver can drop the duplicates.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from typing import Any

import httpx
import msgspec

from tracktion.domain.relay import ErasureNotice
from tracktion.errors import ErrorEntry, rejected
from tracktion.relay.feed import Item
from tracktion.relay.types import DestinationType, Retry, check_int, check_string, check_url, http_outcome

_SECRET_MIN = 24
_RESERVED_HEADERS = frozenset(
    {"content-type", "content-length", "host", "webhook-id", "webhook-timestamp", "webhook-signature"}
)


def secret_key(secret: str) -> bytes:
    if secret.startswith("whsec_"):
        return base64.b64decode(secret[len("whsec_") :], validate=True)
    return secret.encode()


def sign(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def validate(config: dict[str, Any]) -> tuple[dict[str, Any], list[ErrorEntry]]:
    errors: list[ErrorEntry] = []
    out: dict[str, Any] = {"url": check_url(config, "url", errors)}
    secret = check_string(config, "secret", errors, required=False)
    if secret is not None:
        if secret.startswith("whsec_"):
            try:
                if not secret_key(secret):
                    raise ValueError
            except (binascii.Error, ValueError):
                errors.append(
                    ErrorEntry(1005, "config.secret", "secret: whsec_ must be followed by base64", None)
                )
        elif len(secret) < _SECRET_MIN:
            errors.append(
                ErrorEntry(
                    1006,
                    "config.secret",
                    f"secret must be whsec_<base64> or ≥ {_SECRET_MIN} characters",
                    None,
                )
            )
        out["secret"] = secret
    headers = config.get("headers")
    if headers is not None:
        if not isinstance(headers, dict):
            errors.append(ErrorEntry(1004, "config.headers", "headers must be an object", rejected(headers)))
        else:
            for name, value in headers.items():
                field = f"config.headers.{name}"
                if not name or not name.isascii() or not all(c.isalnum() or c in "-_" for c in name):
                    errors.append(ErrorEntry(1005, field, "Header name not allowed", rejected(name)))
                elif name.lower() in _RESERVED_HEADERS:
                    errors.append(ErrorEntry(1007, field, "Header is set by the relay", rejected(name)))
                elif not isinstance(value, str) or not value.isprintable():
                    errors.append(ErrorEntry(1004, field, "Header value must be a printable string", None))
            out["headers"] = headers
    out["batchSize"] = check_int(config, "batchSize", 1, 1000, 100, errors)
    out["timeoutSeconds"] = check_int(config, "timeoutSeconds", 1, 60, 10, errors)
    return out, errors


class WebhookSender:
    def __init__(self, config: dict[str, Any]) -> None:
        self.url: str = config["url"]
        self.batch_size: int = config["batchSize"]
        self.key = secret_key(config["secret"]) if config.get("secret") else None
        self.headers = dict(config.get("headers") or {})
        self.client = httpx.AsyncClient(timeout=float(config["timeoutSeconds"]), follow_redirects=False)

    async def deliver(self, items: list[Item], delivery_id: str) -> None:
        # `{"type": "events", "items": [...]}` joined from the items' JSON, rendered once (`feed`).
        body = b'{"type":"events","items":[' + b",".join([i.body for i in items]) + b"]}"
        await self._post(body, delivery_id)

    async def erase(self, notice: ErasureNotice, delivery_id: str) -> None:
        """§15.1: `{"type": "erasure", "erasureId", "identifiers"}`, signed like any delivery."""
        body = msgspec.json.encode(
            {"type": "erasure", "erasureId": notice.erasure_id, "identifiers": notice.public_identifiers()}
        )
        await self._post(body, delivery_id)

    async def _post(self, body: bytes, delivery_id: str) -> None:
        now = int(time.time())
        headers = {
            **self.headers,
            "content-type": "application/json",
            "webhook-id": delivery_id,
            "webhook-timestamp": str(now),
        }
        if self.key is not None:
            headers["webhook-signature"] = sign(self.key, delivery_id, now, body)
        try:
            r = await self.client.post(self.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise Retry(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__) from exc
        failure = http_outcome(r.status_code, r.text, r.headers.get("retry-after"), time.time())
        if failure is not None:
            raise failure

    async def close(self) -> None:
        await self.client.aclose()


WEBHOOK = DestinationType("webhook", validate, WebhookSender)
