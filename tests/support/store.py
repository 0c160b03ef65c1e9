"""Stores opened directly (no HTTP) and builders of their write requests, for the store tests (the `store`
fixture is in tests/storage/conftest.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tracktion.domain.models import ClientRef, Credential, EventIn, WriteItem, WriteRequest
from tracktion.domain.ports import Store
from tracktion.errors import TracktionError

T0 = 1_709_633_730_250  # 2024-03-05T10:15:30.250Z
CRED = Credential("workspace", 1, "key-1")


def open_test_store(database_url: str | None, tmp_path: Path) -> Store:
    if database_url is None:
        from tracktion.storage.sqlite import SQLiteStore

        return SQLiteStore(tmp_path / "contract.db")
    from tracktion.storage.postgres import PostgresStore

    return PostgresStore(database_url)


def event(
    client: ClientRef | None = None,
    *,
    action: str = "door.open",
    label: str = "Door opened",
    time_ms: int = T0,
    salt: str | None = None,
    params: dict[str, Any] | None = None,
    kind: str = "custom",
    original_time: str | None = None,
) -> EventIn:
    return EventIn(
        client or ClientRef(custom_id="cust-1"),
        action,
        label,
        time_ms,
        original_time,
        salt,
        dict(params or {}),
        kind,
    )


def request(
    *items: EventIn | TracktionError,
    batch: bool = False,
    atomic: bool = True,
    received_ms: int = T0 + 1000,
    endpoint: str = "/v4/events/custom",
    workspace_id: int = 1,
    credential: Credential = CRED,
    request_id: str = "req-1",
) -> WriteRequest:
    """A write request: one body (`batch=False`, one item) or a batch of events / edge errors."""
    assert batch or len(items) == 1
    write_items = []
    for i, it in enumerate(items):
        index, prefix = (i, f"[{i}]") if batch else (None, "")
        raw = {"item": i}
        if isinstance(it, TracktionError):
            write_items.append(WriteItem(index, raw, prefix, error=it))
        else:
            write_items.append(WriteItem(index, raw, prefix, event=it))
    return WriteRequest(
        workspace_id=workspace_id,
        credential=credential,
        request_id=request_id,
        method="POST",
        endpoint=endpoint,
        received_ms=received_ms,
        ip="203.0.113.7",
        items=write_items,
        atomic=atomic,
    )
