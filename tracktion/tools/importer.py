"""`tracktion import FILE`: backfill events or transactions from NDJSON or CSV through the batch API.

How a line travels
  - NDJSON: one JSON object per line, the batch item as-is (`type` picks a dedicated endpoint, §5.1) or, with
    `--transactions`, a transaction body (§6.2). CSV: a header row names each column by its body path
    (`action`, `label`, `time`, `client.id`, `params.mood`, `value.amount`, …; see `csv_object`).
  - Items go out in batches of at most 1000 (and at most 1 MiB) to `POST /v4/events/batch?partial=true`
    (or `/v4/transactions/batch?partial=true`) with `X-Tracktion-Lane: bulk`; the 207 answer says, per
    item, stored, quarantined or rejected (§5.4).

Resumable without duplicates
  - Every line without an `eventSalt` gets one derived from the input: sha256 of the salt namespace
    (default: the file's name), the line number and the line's content. A salted event's UUID is
    `uuid5(workspace|clientId|action|salt|time)` (§3.7), so sending the line again overwrites the
    stored event instead of adding one.
  - That UUID includes the *stored* time, and a line without a time would be stored at the receive time:
    a re-send would then be a new event. So each line must carry its time (`time`, or `recordedAt` for
    transactions); `--default-time` sets one fixed, explicit time for the lines that have none (the same
    value on every run keeps re-sends idempotent). Lines without a time otherwise, and lines whose time is
    in the future (the server would store the receive time instead), are rejected locally and reported.
  - After each acknowledged batch a state file next to the input (`FILE.import-state.json`) records the
    last acknowledged line, its byte offset and a hash of the input up to there; a rerun skips what was
    acknowledged (after checking that this prefix is unchanged). A batch sent but not acknowledged when the
    importer died is simply sent again: the salts make that an overwrite.

Lines that were not stored (rejected with their errors, quarantined with the reason, or refused locally)
are written to a report file (`FILE.rejected.ndjson`), one JSON object per line.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import http.client
import json
import os
import re
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, BinaryIO, TextIO

from tracktion.domain.timefmt import TimeFormatError, TimeRangeError, format_ms, parse_time_ms
from tracktion.tools import ToolError
from tracktion.tools.client import ApiError, Client, encode_json
from tracktion.tools.progress import ProgressBar
from tracktion.tools.send import parse_value

EVENTS_PATH = "/v4/events/batch"
TRANSACTIONS_PATH = "/v4/transactions/batch"
LANE_HEADERS = {"X-Tracktion-Lane": "bulk"}
MAX_ITEMS = 1000
MAX_BODY_BYTES = 1_048_576  # §1.3, after decompression too
MAX_DEPTH = 63  # §1.3: 64 levels with the batch array as level 1
MAX_INT64 = 2**63 - 1
STATE_SUFFIX = ".import-state.json"
REPORT_SUFFIX = ".rejected.ndjson"
STATE_VERSION = 1
MAX_PENDING_RECORDS = 10_000  # acknowledge runs of unsendable lines without waiting for a batch

# CSV columns that are strings by contract; every other cell is JSON-typed when it parses as JSON.
STRING_FIELDS = frozenset(
    {
        "type",
        "action",
        "label",
        "time",
        "eventSalt",
        "recordedAt",
        "orderId",
        "source",
        "client.customId",
        "client.email",
        "client.uuid",
    }
)
CSV_ALIASES = {
    "clientId": "client.id",
    "customId": "client.customId",
    "email": "client.email",
    "clientUuid": "client.uuid",
}


class LineError(Exception):
    """This line cannot be sent; it goes to the report with this message."""


# -- pure parts: JSON checks, CSV mapping, salts, times ---------------------------------------------------
def _refuse_constant(name: str) -> Any:
    raise LineError(f"{name} is not valid JSON")


def check_json(value: Any, depth: int = 1) -> None:
    """What the server refuses for a whole body (§1.3) must be refused for the line alone: nesting beyond
    64 levels (counting the batch array), integers outside signed 64-bit, non-finite numbers."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return
    if isinstance(value, int):
        if not -(2**63) <= value <= MAX_INT64:
            raise LineError(f"integer outside signed 64-bit: {value}")
    elif isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise LineError("NaN and Infinity are not JSON")
    elif isinstance(value, dict | list):
        if depth > MAX_DEPTH:
            raise LineError("nested too deeply (at most 64 levels in a batch)")
        for v in value.values() if isinstance(value, dict) else value:
            check_json(v, depth + 1)


def parse_ndjson_line(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text, parse_constant=_refuse_constant)
    except RecursionError:
        raise LineError("nested too deeply") from None
    except ValueError as exc:
        raise LineError(f"not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise LineError("not a JSON object")
    check_json(value)
    return value


def csv_object(header: list[str], row: list[str]) -> dict[str, Any]:
    """A CSV record as a body: each column names a dotted path (`client.id`, `params.mood`,
    `value.amount`); `clientId`, `customId`, `email`, `clientUuid` are short for the `client.*` paths;
    a `params` column may hold a whole JSON object (single `params.*` columns win over its keys).
    Cells of `STRING_FIELDS` are text; other cells are JSON values when they parse as JSON (`7`, `true`,
    `{"a":1}`, `"007"`), else text. Empty cells are absent."""
    if len(row) != len(header):
        raise LineError(f"{len(row)} fields where the header has {len(header)}")
    obj: dict[str, Any] = {}
    seen: set[str] = set()
    # Shorter paths first, so that a `params` object is in place before `params.mood` refines it.
    cells = sorted(zip(header, row, strict=True), key=lambda c: CSV_ALIASES.get(c[0], c[0]).count("."))
    for name, cell in cells:
        if cell == "" or not name:
            continue
        path = CSV_ALIASES.get(name, name)
        if path in seen:
            raise LineError(f"column {name!r} repeats {path!r}")
        seen.add(path)
        value = cell if path in STRING_FIELDS else parse_value(cell)
        _set_path(obj, path.split("."), value, name)
    return obj


def _set_path(obj: dict[str, Any], parts: list[str], value: Any, column: str) -> None:
    target = obj
    for part in parts[:-1]:
        nxt = target.setdefault(part, {})
        if not isinstance(nxt, dict):
            raise LineError(f"column {column!r}: {part!r} is not an object")
        target = nxt
    target[parts[-1]] = value


def canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def derive_salt(namespace: str, line: int, content: str) -> str:
    """Stable per (input, line number, line content): a re-sent line overwrites its event (§3.7)."""
    digest = hashlib.sha256(f"tracktion-import\x00{namespace}\x00{line}\x00{content}".encode()).hexdigest()
    return f"import-{digest[:32]}"


def prepare_item(
    obj: dict[str, Any],
    *,
    line: int,
    namespace: str,
    time_key: str,
    default_time: str | None,
    now_ms: int,
) -> dict[str, Any]:
    """The item to send: a derived salt when the line has none, and a time that will be stored as is."""
    item = dict(obj)
    if item.get("eventSalt") is None:
        item["eventSalt"] = derive_salt(namespace, line, canonical(obj))
    sent = item.get(time_key)
    if sent is None:
        if default_time is None:
            raise LineError(
                f"no {time_key}: a resumable import needs each line's time "
                "(without one the receive time is stored and a re-send would add a second event); "
                "give the line a time or pass --default-time"
            )
        item[time_key] = default_time
        return item
    try:
        ms = parse_time_ms(sent)
    except (TimeFormatError, TimeRangeError):
        return item  # the server rejects it with the contract's message
    if ms > now_ms:
        raise LineError(
            f"{time_key} {sent} is in the future: the server would store the receive time, "
            "so a re-send would add a second event"
        )
    return item


def strip_item_prefix(entry: Any) -> Any:
    """`[3].client.id` → `client.id`: the batch position means nothing to the person reading the report."""
    if isinstance(entry, dict) and isinstance(entry.get("field"), str):
        return {**entry, "field": re.sub(r"^\[\d+\]\.?", "", entry["field"])}
    return entry


def detect_format(path: Path, sample: bytes) -> str:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix in (".ndjson", ".jsonl", ".json"):
        return "ndjson"
    return "ndjson" if sample.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{") else "csv"


# -- reading records ----------------------------------------------------------------------------------
@dataclass(slots=True)
class Record:
    line: int  # 1-based line number where the record starts (the CSV header is line 1)
    raw: bytes  # the exact bytes consumed, line ending included
    end: int  # byte offset just after the record
    lines_end: int  # physical lines consumed up to and including this record
    obj: dict[str, Any] | None = None  # parsed, before salt and time
    error: str | None = None
    skip: bool = False  # blank line or CSV header: nothing to send
    item: dict[str, Any] | None = None
    encoded: bytes = b""


def read_lines(f: BinaryIO, offset: int) -> Iterator[tuple[bytes, int]]:
    f.seek(offset)
    pos = offset
    for raw in iter(f.readline, b""):
        pos += len(raw)
        yield raw, pos


def _text(raw: bytes, first: bool) -> str:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise LineError(f"not UTF-8 ({exc.reason} at byte {exc.start})") from None
    return text.removeprefix("\ufeff") if first else text


def ndjson_records(f: BinaryIO, offset: int, lines_done: int) -> Iterator[Record]:
    line = lines_done
    for raw, end in read_lines(f, offset):
        line += 1
        rec = Record(line, raw, end, line)
        try:
            text = _text(raw, first=end == len(raw))
            if not text.strip():
                rec.skip = True
            else:
                rec.obj = parse_ndjson_line(text)
        except LineError as exc:
            rec.error = str(exc)
        yield rec


class _LineFeed:
    """Physical lines for `csv.reader`, remembering the bytes and lines each record consumed."""

    def __init__(self, f: BinaryIO, offset: int) -> None:
        self._it = read_lines(f, offset)
        self.first = offset == 0
        self.raw = bytearray()
        self.pos = offset
        self.count = 0

    def __iter__(self) -> _LineFeed:
        return self

    def __next__(self) -> str:
        raw, self.pos = next(self._it)
        self.raw += raw
        self.count += 1
        text = raw.decode("utf-8", "surrogateescape")
        if self.first:
            self.first = False
            text = text.removeprefix("\ufeff")
        return text

    def take(self) -> tuple[bytes, int]:
        raw, count = bytes(self.raw), self.count
        self.raw.clear()
        self.count = 0
        return raw, count


def csv_header(f: BinaryIO) -> list[str]:
    feed = _LineFeed(f, 0)
    try:
        header = next(csv.reader(feed))
    except StopIteration:
        raise ToolError("the CSV input is empty (no header row)") from None
    except csv.Error as exc:
        raise ToolError(f"CSV header: {exc}") from None
    return [h.strip() for h in header]


def csv_records(f: BinaryIO, offset: int, lines_done: int, header: list[str]) -> Iterator[Record]:
    """Records from `offset`; at offset 0 the header row comes first, as a `skip` record."""
    feed = _LineFeed(f, offset)
    reader = csv.reader(feed)
    line = lines_done
    at_header = offset == 0
    while True:
        try:
            row = next(reader)
            error = None
        except StopIteration:
            return
        except csv.Error as exc:
            row, error = [], f"CSV: {exc}"
        raw, count = feed.take()
        rec = Record(line + 1, raw, feed.pos, line + count)
        line += count
        if at_header:
            at_header = False
            rec.skip = True
        elif error is not None:
            rec.error = error
        elif not any(cell.strip() for cell in row):
            rec.skip = True
        elif any(_has_surrogate(cell) for cell in row):
            rec.error = "not UTF-8"
        else:
            try:
                rec.obj = csv_object(header, row)
                check_json(rec.obj)
            except LineError as exc:
                rec.error = str(exc)
        yield rec


def _has_surrogate(text: str) -> bool:
    return any("\udc80" <= ch <= "\udcff" for ch in text)


# -- the state file -------------------------------------------------------------------------------------
def state_path_for(path: Path) -> Path:
    return path.with_name(path.name + STATE_SUFFIX)


def report_path_for(path: Path) -> Path:
    return path.with_name(path.name + REPORT_SUFFIX)


def prefix_sha256(path: Path, length: int) -> hashlib._Hash:
    h = hashlib.sha256()
    with path.open("rb") as f:
        left = length
        while left > 0:
            chunk = f.read(min(left, 1 << 20))
            if not chunk:
                break
            h.update(chunk)
            left -= len(chunk)
    return h


def write_json_atomic(path: Path, data: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as f:
        json.dump(data, f, indent=2)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


# -- the import ---------------------------------------------------------------------------------------
@dataclass
class ImportOptions:
    path: Path
    transactions: bool = False
    format: str = "auto"
    namespace: str | None = None
    default_time: str | None = None
    batch_size: int = MAX_ITEMS
    report: Path | None = None
    restart: bool = False
    max_rate: float | None = None  # lines per second, None = as fast as the server answers
    retries: int = 8
    progress: bool = True
    lane: str = "bulk"  # `live` only to compare, e.g. in a benchmark, what the bulk lane spares live traffic


@dataclass
class Counts:
    lines: int = 0  # lines with content (blank lines and the CSV header excluded)
    accepted: int = 0
    quarantined: int = 0
    rejected: int = 0  # refused by the server (400/403)
    invalid: int = 0  # refused locally (not JSON, no time, …)

    @property
    def not_stored(self) -> int:
        return self.quarantined + self.rejected + self.invalid

    def as_json(self) -> dict[str, int]:
        return {
            "lines": self.lines,
            "accepted": self.accepted,
            "quarantined": self.quarantined,
            "rejected": self.rejected,
            "invalid": self.invalid,
        }

    @classmethod
    def from_json(cls, data: Any) -> Counts:
        data = data if isinstance(data, dict) else {}
        return cls(
            **{k: int(data.get(k, 0)) for k in ("lines", "accepted", "quarantined", "rejected", "invalid")}
        )


@dataclass
class ImportSummary:
    input: Path
    state: Path
    report: Path
    format: str
    totals: Counts  # since the import of this input started (over every run)
    run: Counts  # this run only
    resumed_after_line: int | None = None
    last_line: int = 0
    elapsed: float = 0.0
    complete: bool = False
    interrupted: bool = False
    already_complete: bool = False

    def as_json(self) -> dict[str, Any]:
        return {
            "input": str(self.input),
            "format": self.format,
            "state": str(self.state),
            "report": str(self.report),
            "complete": self.complete,
            "interrupted": self.interrupted,
            "alreadyComplete": self.already_complete,
            "resumedAfterLine": self.resumed_after_line,
            "lastAcknowledgedLine": self.last_line,
            "elapsedSeconds": round(self.elapsed, 3),
            "totals": self.totals.as_json(),
            "run": self.run.as_json(),
        }

    def describe(self) -> str:
        t = self.totals
        if self.already_complete:
            return (
                f"{self.input}: already imported ({t.lines:,} lines, {t.accepted:,} stored); "
                f"pass --restart to send it again (re-sent lines overwrite, they do not duplicate)"
            )
        head = "imported" if self.complete else "interrupted" if self.interrupted else "stopped"
        lines = [
            f"{head} {self.input} ({self.format}): {t.lines:,} lines, {t.accepted:,} stored, "
            f"{t.quarantined:,} quarantined, {t.rejected:,} rejected, {t.invalid:,} invalid"
        ]
        rate = self.run.lines / self.elapsed if self.elapsed > 0 else 0.0
        resumed = f", resumed after line {self.resumed_after_line}" if self.resumed_after_line else ""
        lines.append(
            f"this run: {self.run.lines:,} lines in {self.elapsed:.1f} s ({rate:,.0f} lines/s){resumed}"
        )
        if t.not_stored:
            lines.append(f"report of lines not stored: {self.report}")
        if not self.complete:
            lines.append(
                f"acknowledged up to line {self.last_line}; run the same command again to resume "
                f"(state: {self.state})"
            )
        return "\n".join(lines)


class Importer:
    def __init__(
        self,
        client: Client,
        options: ImportOptions,
        *,
        err: TextIO,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.client = client
        self.o = options
        self.err = err
        self.clock = clock
        self.sleep = sleep
        self.path = options.path
        self.state_path = state_path_for(self.path)
        self.report_path = options.report or report_path_for(self.path)
        self.endpoint = TRANSACTIONS_PATH if options.transactions else EVENTS_PATH
        self.time_key = "recordedAt" if options.transactions else "time"
        self.namespace = options.namespace or self.path.name
        self.batch_size = max(1, min(MAX_ITEMS, options.batch_size))
        self.headers = LANE_HEADERS if options.lane == "bulk" else {}
        self.totals = Counts()
        self.run_counts = Counts()
        self._sent_at: float | None = None

    # setup
    def _identity(self, fmt: str) -> dict[str, Any]:
        return {
            "format": fmt,
            "mode": "transactions" if self.o.transactions else "events",
            "namespace": self.namespace,
            "defaultTime": self.o.default_time,
        }

    def _load_state(self, fmt: str) -> dict[str, Any] | None:
        if self.o.restart or not self.state_path.exists():
            return None
        try:
            state = json.loads(self.state_path.read_text("utf-8"))
        except (OSError, ValueError) as exc:
            raise ToolError(f"cannot read the state file {self.state_path}: {exc}; pass --restart") from None
        if not isinstance(state, dict) or state.get("version") != STATE_VERSION:
            raise ToolError(f"{self.state_path}: not a state file of this version; pass --restart")
        ours = self._identity(fmt)
        theirs = {k: state.get(k) for k in ours}
        if theirs != ours:
            diff = ", ".join(f"{k} {theirs[k]!r} (now {ours[k]!r})" for k in ours if theirs[k] != ours[k])
            raise ToolError(
                f"{self.state_path} was written for another import: {diff}; "
                "run with the same options, or pass --restart"
            )
        return state

    def run(self) -> ImportSummary:
        if not self.path.is_file():
            raise ToolError(f"no such file: {self.path}")
        if self.o.default_time is not None:
            try:
                ms = parse_time_ms(self.o.default_time)
            except (TimeFormatError, TimeRangeError):
                raise ToolError(
                    f"--default-time {self.o.default_time!r}: not a time (e.g. 2024-03-05T10:15:30Z)"
                ) from None
            if ms > time.time() * 1000:
                raise ToolError("--default-time must not be in the future")
        started = self.clock()
        size = self.path.stat().st_size
        with self.path.open("rb") as f:
            fmt = self.o.format if self.o.format != "auto" else detect_format(self.path, f.read(4096))
            state = self._load_state(fmt)
            offset, lines_done, last_line = 0, 0, 0
            hasher = hashlib.sha256()
            summary = ImportSummary(
                self.path, self.state_path, self.report_path, fmt, self.totals, self.run_counts
            )
            if state is not None:
                offset, lines_done, last_line = int(state["offset"]), int(state["lines"]), int(state["line"])
                hasher = prefix_sha256(self.path, offset)
                if offset > size or hasher.hexdigest() != state.get("prefixSha256"):
                    raise ToolError(
                        f"{self.path} changed since {self.state_path} was written (its first "
                        f"{offset} bytes differ); pass --restart to import it again"
                    )
                self.totals = summary.totals = Counts.from_json(state.get("totals"))
                if state.get("complete"):
                    summary.already_complete = summary.complete = True
                    summary.last_line = last_line
                    return summary
                summary.resumed_after_line = last_line or None
            header = csv_header(f) if fmt == "csv" else []
            records = (
                csv_records(f, offset, lines_done, header)
                if fmt == "csv"
                else ndjson_records(f, offset, lines_done)
            )
            if fmt == "csv":
                self._warn_columns(header)
            same_report = state is not None and state.get("report") == str(self.report_path.resolve())
            report_bytes = int(state.get("reportBytes", 0)) if state and same_report else 0
            progress = ProgressBar(self.err, size, enabled=self.o.progress, clock=self.clock)
            progress.start_at(offset)
            self._state = {
                **self._identity(fmt),
                "version": STATE_VERSION,
                "input": str(self.path.resolve()),
                "report": str(self.report_path.resolve()),
                "offset": offset,
                "lines": lines_done,
                "line": last_line,
                "prefixSha256": hasher.hexdigest(),
                "reportBytes": report_bytes,
                "totals": self.totals.as_json(),
                "complete": False,
            }
            # Log in before the first batch: a wrong URL, a server that is not running or a bad key
            # ends the import at once, instead of after the retries meant for a server that was there.
            self.client.login()
            with _open_report(self.report_path, report_bytes) as report, _sigterm_as_interrupt():
                try:
                    self._pump(records, report, hasher, progress)
                    self._state["complete"] = True
                    self._save()
                    summary.complete = True
                except KeyboardInterrupt:
                    summary.interrupted = True
                finally:
                    progress.update(
                        done_bytes=self._state["offset"],
                        lines=self.run_counts.lines,
                        rejected=self.totals.not_stored,
                        force=True,
                    )
                    progress.finish()
        summary.last_line = self._state["line"]
        summary.elapsed = self.clock() - started
        return summary

    def _warn_columns(self, header: list[str]) -> None:
        known_roots = {"type", "action", "label", "time", "eventSalt", "client", "params"}
        if self.o.transactions:
            return  # every column is a body path; unknown top-level keys are ignored by the server
        ignored = [h for h in header if h and CSV_ALIASES.get(h, h).split(".")[0] not in known_roots]
        if ignored:
            print(f"import: columns ignored by the server: {', '.join(ignored)}", file=self.err, flush=True)

    # the loop
    def _pump(self, records: Iterator[Record], report: IO[str], hasher: Any, progress: ProgressBar) -> None:
        pending: list[Record] = []
        items: list[Record] = []
        size = 2
        now_ms = int(time.time() * 1000)
        for rec in records:
            if rec.obj is not None:
                self._prepare(rec, now_ms)
            if rec.item is not None:
                n = len(rec.encoded)
                if items and (len(items) >= self.batch_size or size + 1 + n > MAX_BODY_BYTES):
                    self._flush(pending, items, report, hasher, progress)
                    pending, items, size = [], [], 2
                    now_ms = int(time.time() * 1000)
                items.append(rec)
                size += n + (1 if len(items) > 1 else 0)
            pending.append(rec)
            if not items and len(pending) >= MAX_PENDING_RECORDS:
                self._flush(pending, items, report, hasher, progress)
                pending = []
        if pending:
            self._flush(pending, items, report, hasher, progress)

    def _prepare(self, rec: Record, now_ms: int) -> None:
        assert rec.obj is not None
        try:
            rec.item = prepare_item(
                rec.obj,
                line=rec.line,
                namespace=self.namespace,
                time_key=self.time_key,
                default_time=self.o.default_time,
                now_ms=now_ms,
            )
            rec.encoded = encode_json(rec.item)
            if len(rec.encoded) + 2 > MAX_BODY_BYTES:
                raise LineError(f"{len(rec.encoded):,} bytes: a request holds at most 1 MiB")
        except LineError as exc:
            rec.item, rec.error = None, str(exc)

    def _flush(
        self, pending: list[Record], items: list[Record], report: IO[str], hasher: Any, progress: ProgressBar
    ) -> None:
        self._throttle(len(items))
        results = self._post(items) if items else []
        outcome = {id(rec): res for rec, res in zip(items, results, strict=True)}
        for rec in pending:
            hasher.update(rec.raw)  # in file order: the state's prefix hash covers every acknowledged byte
            if rec.skip:
                continue
            for counts in (self.totals, self.run_counts):
                counts.lines += 1
            entry = self._classify(rec, outcome.get(id(rec)))
            if entry is not None:
                report.write(json.dumps(entry, ensure_ascii=False) + "\n")
        last = pending[-1]
        report.flush()
        os.fsync(report.fileno())
        self._state.update(
            offset=last.end,
            lines=last.lines_end,
            line=last.line,
            reportBytes=report.tell(),
            totals=self.totals.as_json(),
        )
        self._state["prefixSha256"] = hasher.hexdigest()
        self._save()
        progress.update(done_bytes=last.end, lines=self.run_counts.lines, rejected=self.totals.not_stored)

    def _classify(self, rec: Record, result: dict[str, Any] | None) -> dict[str, Any] | None:
        text = rec.raw.decode("utf-8", "replace").rstrip("\r\n")
        if rec.error is not None:
            self._count("invalid")
            return {"line": rec.line, "status": None, "errors": [{"message": rec.error}], "input": text}
        assert result is not None
        if result.get("status") == 202 and not result.get("quarantined"):
            self._count("accepted")
            return None
        entry: dict[str, Any] = {"line": rec.line, "status": result.get("status")}
        if result.get("quarantined"):
            self._count("quarantined")
            entry["quarantined"] = True
            entry["reason"] = result.get("reason")
        else:
            self._count("rejected")
            entry["errors"] = [strip_item_prefix(e) for e in result.get("errors", [])]
        entry["input"] = text
        return entry

    def _count(self, name: str) -> None:
        for counts in (self.totals, self.run_counts):
            setattr(counts, name, getattr(counts, name) + 1)

    def _save(self) -> None:
        write_json_atomic(self.state_path, {**self._state, "updatedAt": format_ms(int(time.time() * 1000))})

    def _throttle(self, n: int) -> None:
        if not self.o.max_rate or n == 0:
            return
        now = self.clock()
        if self._sent_at is not None:
            wait = self._sent_at - now
            if wait > 0:
                self.sleep(wait)
                now = self.clock()
        self._sent_at = max(now, self._sent_at or now) + n / self.o.max_rate

    def _post(self, recs: list[Record]) -> list[dict[str, Any]]:
        """One 207 result per record, in order. Transient failures are retried with backoff; a 400/413
        for the whole batch (a line the local checks missed) splits it until the culprit stands alone."""
        body = b"[" + b",".join(r.encoded for r in recs) + b"]"
        attempt = 0
        while True:
            attempt += 1
            try:
                r = self.client.request(
                    "POST", self.endpoint, raw=body, query={"partial": "true"}, headers=self.headers
                )
            except (OSError, http.client.HTTPException) as exc:
                self._retry_or_give_up(attempt, f"{type(exc).__name__}: {exc}", None)
                continue
            if r.status == 207:
                data = r.json()
                results = data.get("results") if isinstance(data, dict) else None
                if not isinstance(results, list) or len(results) != len(recs):
                    raise ToolError(f"unexpected 207 body from {self.endpoint}: {r.body[:200]!r}")
                return results
            if r.status in (500, 502, 503, 504):
                self._retry_or_give_up(attempt, f"{r.status} {r.reason}", r.headers.get("retry-after"))
                continue
            if r.status in (400, 413):
                if len(recs) > 1:
                    half = len(recs) // 2
                    return self._post(recs[:half]) + self._post(recs[half:])
                return [{"index": 0, "status": r.status, "errors": _error_entries(r.body, r.reason)}]
            raise ApiError("POST", self.endpoint, r)

    def _retry_or_give_up(self, attempt: int, why: str, retry_after: str | None) -> None:
        if attempt > self.o.retries:
            raise ToolError(
                f"giving up after {attempt} attempts ({why}); run the same command again to resume"
            )
        delay = min(30.0, 0.5 * 2 ** (attempt - 1))
        if retry_after and retry_after.isdigit():
            delay = max(delay, float(retry_after))
        print(f"\nimport: {why}; retrying in {delay:.1f} s", file=self.err, flush=True)
        self.sleep(delay)


def _error_entries(body: bytes, reason: str) -> list[Any]:
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    if isinstance(data, dict) and isinstance(data.get("errors"), list) and data["errors"]:
        return list(data["errors"])
    return [{"message": reason}]


@contextlib.contextmanager
def _open_report(path: Path, keep_bytes: int) -> Iterator[IO[str]]:
    """The report, cut back to what the acknowledged lines wrote (a batch re-sent after a crash must
    not be reported twice)."""
    mode = "r+" if keep_bytes and path.exists() else "w"
    with path.open(mode, encoding="utf-8", newline="\n") as f:
        f.seek(keep_bytes if mode == "r+" else 0)
        f.truncate()
        yield f


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """`kill` stops the import like Ctrl-C: at a clean point, with the state saved."""

    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
