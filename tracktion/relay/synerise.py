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
from urllib.parse import quote

import httpx
import msgspec

from tracktion.catalog import load_catalog
from tracktion.domain.definitions import SYSTEM_PARAMS  # §7.2: what the target computes itself
from tracktion.domain.relay import ErasureNotice, RelayEvent
from tracktion.domain.timefmt import format_ms
from tracktion.errors import ErrorEntry
from tracktion.relay.feed import Item
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

    async def _call(self, method: str, path: str, body: bytes | None = None) -> httpx.Response:
        """One request with the workspace token; a 401 logs in again once (§14.2). Transport trouble is a
        `Retry`; the answer is the caller's to classify."""
        for attempt in range(2):
            token = await self._login()
            headers = {"Authorization": f"Bearer {token}", "Api-Version": "4.4"}
            if body is not None:
                headers["Content-Type"] = "application/json"
            try:
                r = await self.client.request(method, f"{self.base}{path}", content=body, headers=headers)
            except httpx.HTTPError as exc:
                raise Retry(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__) from exc
            if r.status_code == 401 and attempt == 0:
                self._token = None
                continue
            return r
        raise AssertionError("unreachable")  # pragma: no cover

    @staticmethod
    def _raise_for(r: httpx.Response) -> None:
        failure = http_outcome(r.status_code, r.text, r.headers.get("retry-after"), time.time())
        if failure is not None:
            raise failure

    async def deliver(self, items: list[Item], delivery_id: str) -> None:
        body = msgspec.json.encode([batch_item(i.event) for i in items])
        if len(body) > MAX_BODY:
            raise Rejected("batch over 1 MiB", 413, "")  # halved by the worker until it fits
        self._raise_for(await self._call("POST", "/v4/events/batch", body))

    async def erase(self, notice: ErasureNotice, delivery_id: str) -> None:
        """§15.1: find the person's profile on the target by `customId`, then `email`, then `uuid`, and
        delete it (`DELETE /v4/clients/{clientId}`, which erases it on a tracktion target). Every distinct
        profile one of their identifiers finds is deleted (events sent with several identifiers may have
        landed on more than one there). A 404 means the target has no such profile (any more): nothing to
        delete. A retry looks everything up again, so it is idempotent."""
        ids = notice.public_identifiers()
        lookups = [
            ("by-customid", ids["customId"]),
            ("by-email", ids["email"]),
            ("by-uuid", ids["uuid"]),  # Synerise's; a tracktion target has no such read (404: not found)
        ]
        deleted: set[int] = set()
        for kind, value in lookups:
            if value is None:
                continue
            r = await self._call("GET", f"/v4/clients/{kind}/{quote(str(value), safe='')}")
            if r.status_code == 404:
                continue
            self._raise_for(r)
            try:
                client_id = int(r.json()["clientId"])
            except (ValueError, KeyError, TypeError):
                raise Retry("profile lookup: answer without a clientId", r.status_code, r.text) from None
            if client_id in deleted:
                continue
            r = await self._call("DELETE", f"/v4/clients/{client_id}")
            if r.status_code != 404:
                self._raise_for(r)
            deleted.add(client_id)

    async def close(self) -> None:
        await self.client.aclose()


SYNERISE = DestinationType("synerise", validate, SyneriseSender)
