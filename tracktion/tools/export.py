"""`tracktion export`: stored events as NDJSON, CSV or Parquet, read straight from the store.

Pages come from `Store.events(EventQuery)` with its keyset cursor (newest first: `time` desc, `seq` desc),
and each page is written before the next is read, so memory stays at one page whatever the size of the
store. Each record has the `GET /-/api/events` item shape (§13.2). The CSV and NDJSON files import back
with `tracktion import` (the extra keys and columns are ignored there).
"""

from __future__ import annotations

import csv
import dataclasses
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import IO, Any, Protocol

from tracktion.domain.ports import EventQuery, Store
from tracktion.domain.timefmt import TimeFormatError, TimeRangeError, parse_time_ms
from tracktion.schemas.render import event_json
from tracktion.tools import ToolError

FORMATS = ("ndjson", "csv", "parquet")
CSV_COLUMNS = (
    "uuid",
    "seq",
    "time",
    "action",
    "label",
    "kind",
    "endpoint",
    "client.id",
    "client.uuid",
    "client.customId",
    "client.email",
    "params",
)
PAGE_SIZE = 1000


def parse_bound(text: str, name: str, *, end: bool = False) -> int:
    """A §3.5 time, or a bare date `YYYY-MM-DD` (its first millisecond; its last one for `--to`)."""
    value = text
    if len(text) == 10 and text[4] == "-" and text[7] == "-":
        value = text + ("T23:59:59.999Z" if end else "T00:00:00Z")
    try:
        return parse_time_ms(value)
    except (TimeFormatError, TimeRangeError):
        raise ToolError(
            f"{name} {text!r}: expected a date (2024-03-05) or a time (2024-03-05T10:15:30Z)"
        ) from None


async def iter_events(
    store: Store, query: EventQuery, page_size: int = PAGE_SIZE
) -> AsyncIterator[dict[str, Any]]:
    """Every match, one page in memory at a time (an async generator of §13.2 items)."""
    after = query.after
    while True:
        page = await store.events(dataclasses.replace(query, limit=page_size, after=after))
        for stored in page:
            yield event_json(stored, extended=True)
        if len(page) < page_size:
            return
        after = (page[-1].row.time_ms, page[-1].row.seq)


class Writer(Protocol):
    def write(self, item: dict[str, Any]) -> None: ...
    def close(self) -> None: ...


class NdjsonWriter:
    def __init__(self, out: IO[str]) -> None:
        self.out = out

    def write(self, item: dict[str, Any]) -> None:
        self.out.write(json.dumps(item, ensure_ascii=False, separators=(",", ":")) + "\n")

    def close(self) -> None:
        self.out.flush()


def csv_row(item: dict[str, Any]) -> list[Any]:
    client = item.get("client") or {}
    return [
        item["uuid"],
        item["seq"],
        item["time"],
        item["action"],
        item["label"],
        item["kind"],
        item["endpoint"],
        client.get("id"),
        client.get("uuid") or "",
        client.get("customId") or "",
        client.get("email") or "",
        json.dumps(item["params"], ensure_ascii=False, separators=(",", ":")),
    ]


class CsvWriter:
    def __init__(self, out: IO[str]) -> None:
        self.out = out
        self.csv = csv.writer(out, lineterminator="\n")
        self.csv.writerow(CSV_COLUMNS)

    def write(self, item: dict[str, Any]) -> None:
        self.csv.writerow(csv_row(item))

    def close(self) -> None:
        self.out.flush()


class ParquetWriter:
    """Row groups of `rows_per_group` events; `params` as JSON text (its keys differ per action)."""

    def __init__(self, path: Path, rows_per_group: int = 10_000) -> None:
        pa, pq = import_pyarrow()
        self.pa = pa
        self.schema = pa.schema(
            [
                ("uuid", pa.string()),
                ("seq", pa.int64()),
                ("time", pa.timestamp("ms", tz="UTC")),
                ("action", pa.string()),
                ("label", pa.string()),
                ("kind", pa.string()),
                ("endpoint", pa.string()),
                ("client_id", pa.int64()),
                ("client_uuid", pa.string()),
                ("client_custom_id", pa.string()),
                ("client_email", pa.string()),
                ("params", pa.string()),
            ]
        )
        self.writer = pq.ParquetWriter(str(path), self.schema)
        self.rows: list[dict[str, Any]] = []
        self.rows_per_group = rows_per_group

    def write(self, item: dict[str, Any]) -> None:
        client = item.get("client") or {}
        self.rows.append(
            {
                "uuid": item["uuid"],
                "seq": item["seq"],
                "time": item["params"]["time"],
                "action": item["action"],
                "label": item["label"],
                "kind": item["kind"],
                "endpoint": item["endpoint"],
                "client_id": client.get("id"),
                "client_uuid": client.get("uuid"),
                "client_custom_id": client.get("customId"),
                "client_email": client.get("email"),
                "params": json.dumps(item["params"], ensure_ascii=False, separators=(",", ":")),
            }
        )
        if len(self.rows) >= self.rows_per_group:
            self._flush()

    def _flush(self) -> None:
        if self.rows:
            self.writer.write_table(self.pa.Table.from_pylist(self.rows, schema=self.schema))
            self.rows = []

    def close(self) -> None:
        self._flush()
        self.writer.close()


def import_pyarrow() -> tuple[Any, Any]:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise ToolError(
            "--format parquet needs pyarrow: pip install 'tracktion[parquet]' (or use ndjson or csv)"
        ) from None
    return pa, pq


def open_writer(fmt: str, out: IO[str] | None, path: Path | None) -> Writer:
    if fmt == "parquet":
        if path is None:
            raise ToolError("--format parquet writes a file: pass --output FILE")
        return ParquetWriter(path)
    assert out is not None
    return CsvWriter(out) if fmt == "csv" else NdjsonWriter(out)


async def export(store: Store, query: EventQuery, writer: Writer, page_size: int = PAGE_SIZE) -> int:
    n = 0
    async for item in iter_events(store, query, page_size):
        writer.write(item)
        n += 1
    writer.close()
    return n


@dataclasses.dataclass
class ExportOptions:
    workspace: str | None = None
    actions: tuple[str, ...] = ()
    client_id: int | None = None
    custom_id: str | None = None
    email: str | None = None
    uuid: str | None = None
    from_ms: int | None = None
    to_ms: int | None = None
    format: str = "ndjson"
    page_size: int = PAGE_SIZE


async def build_query(store: Store, o: ExportOptions) -> EventQuery:
    """Resolve the workspace (default: the only one) and the profile filters into an `EventQuery`."""
    if o.workspace is not None:
        ws = await store.workspace(o.workspace)
        if ws is None:
            raise ToolError(f"no workspace {o.workspace!r}")
    else:
        workspaces = await store.workspaces()
        if len(workspaces) != 1:
            names = ", ".join(f"{w.id} ({w.name})" for w in workspaces) or "none"
            raise ToolError(f"pass --workspace: this store has {len(workspaces)} workspaces ({names})")
        ws = workspaces[0]
    client_ids: tuple[int, ...] | None = None
    if any(v is not None for v in (o.client_id, o.custom_id, o.email, o.uuid)):
        client_ids = await store.find_client_ids(
            ws.id, client_id=o.client_id, uuid=o.uuid, custom_id=o.custom_id, email=o.email
        )
    if o.from_ms is not None and o.to_ms is not None and o.from_ms > o.to_ms:
        raise ToolError("--from is after --to")
    return EventQuery(ws.id, client_ids=client_ids, actions=o.actions, from_ms=o.from_ms, to_ms=o.to_ms)
