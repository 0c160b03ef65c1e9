"""`synerise` destinations (docs/api.md §14.1): Synerise itself, or another tracktion.

One delivery is one `POST {baseUrl}/v4/events/batch` (atomic: the target stores all items or none) after a
workspace login whose token is reused until a 401 or 60 s before its `exp`. Every item carries
`eventSalt` = the tracktion event UUID, so a re-delivery or a replay overwrites the same event on the target.
"""

from __future__ import annotations

import base64
import time
from functools import cache
from typing import Any

import httpx
import msgspec

from tracktion.catalog import load_catalog
from tracktion.domain.definitions import SYSTEM_PARAMS  # §7.2: what the target computes itself
from tracktion.domain.relay import RelayEvent
from tracktion.domain.timefmt import format_ms
from tracktion.errors import ErrorEntry
from tracktion.relay.types import (
    DestinationType,
    Refused,
    Rejected,
    Retry,
    check_int,
    check_string,
    check_url,
    http_outcome,
)

MAX_BODY = 1_048_576  # §5.2: a batch body the target accepts
_TOKEN_MARGIN_S = 60


@cache
def _batch_types() -> dict[str, str]:
    """action → the batch `type` of its dedicated catalog row (the current row, not a legacy alias)."""
    rows = [r for r in load_catalog() if r.action is not None and r.batch_type is not None]
    # Legacy rows first, so that a current row of the same action wins.
    return {
        r.action: r.batch_type for r in sorted(rows, key=lambda r: not r.legacy) if r.action and r.batch_type
    }


def batch_item(event: RelayEvent) -> dict[str, Any]:
    """One stored event as a `/v4/events/batch` item (§14.1's mapping)."""
    row = event.row
    item_type = _batch_types().get(row.action) if row.kind == "dedicated" else None
    item: dict[str, Any] = {"type": item_type or "custom"}
    if item_type is None:
        item["action"] = row.action
    client: dict[str, Any] = {"uuid": event.primary_uuid}
    if event.custom_id is not None:
        client["customId"] = event.custom_id
    if event.email is not None:
        client["email"] = event.email
    item["label"] = row.label
    item["time"] = format_ms(row.time_ms)
    item["client"] = client
    item["params"] = {k: v for k, v in row.params.items() if k not in SYSTEM_PARAMS}
    item["eventSalt"] = row.uuid
    return item


def validate(config: dict[str, Any]) -> tuple[dict[str, Any], list[ErrorEntry]]:
    errors: list[ErrorEntry] = []
    base = check_url(config, "baseUrl", errors)
    out: dict[str, Any] = {"baseUrl": base.rstrip("/")}
    out["apiKey"] = check_string(config, "apiKey", errors, required=True)
    out["batchSize"] = check_int(config, "batchSize", 1, 1000, 500, errors)
    return out, errors


def _token_exp(token: str) -> float:
    try:
        payload = token.split(".")[1]
        claims = msgspec.json.decode(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return float(claims["exp"])
    except (IndexError, ValueError, KeyError, TypeError, msgspec.DecodeError):
        return time.time() + 300  # no readable exp: log in again in 5 minutes (or at the next 401)


class SyneriseSender:
    def __init__(self, config: dict[str, Any]) -> None:
        self.base: str = config["baseUrl"]
        self.api_key: str = config["apiKey"]
        self.batch_size: int = config["batchSize"]
        self.client = httpx.AsyncClient(timeout=30.0, follow_redirects=False)
        self._token: str | None = None
        self._token_exp = 0.0

    async def _login(self) -> str:
        if self._token is not None and time.time() < self._token_exp - _TOKEN_MARGIN_S:
            return self._token
        try:
            r = await self.client.post(
                f"{self.base}/uauth/v2/auth/login/profile",
                json={"apiKey": self.api_key},
                headers={"Api-Version": "4.4"},
            )
        except httpx.HTTPError as exc:
            raise Retry(f"login: {type(exc).__name__}") from exc
        failure = http_outcome(r.status_code, r.text, r.headers.get("retry-after"), time.time())
        if failure is not None:
            if isinstance(failure, Rejected):  # a 4xx at login: our key is refused, not the items
                raise Refused(f"login: HTTP {r.status_code}", r.status_code, r.text)
            failure.message = f"login: {failure.message}"
            raise failure
        try:
            token = r.json()["token"]
            assert isinstance(token, str)
        except (ValueError, KeyError, TypeError, AssertionError):
            raise Retry("login: answer without a token", r.status_code, r.text) from None
        self._token, self._token_exp = token, _token_exp(token)
        return token

    async def deliver(self, events: list[RelayEvent], delivery_id: str) -> None:
        body = msgspec.json.encode([batch_item(e) for e in events])
        if len(body) > MAX_BODY:
            raise Rejected("batch over 1 MiB", 413, "")  # halved by the worker until it fits
        for attempt in range(2):
            token = await self._login()
            try:
                r = await self.client.post(
                    f"{self.base}/v4/events/batch",
                    content=body,
                    headers={
                        "Authorization": f"Bearer {token}",
                        "Api-Version": "4.4",
                        "Content-Type": "application/json",
                    },
                )
            except httpx.HTTPError as exc:
                raise Retry(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__) from exc
            if r.status_code == 401 and attempt == 0:
                self._token = None  # §14.2: log in again once, then retry
                continue
            failure = http_outcome(r.status_code, r.text, r.headers.get("retry-after"), time.time())
            if failure is not None:
                raise failure
            return

    async def close(self) -> None:
        await self.client.aclose()


SYNERISE = DestinationType("synerise", validate, SyneriseSender)
