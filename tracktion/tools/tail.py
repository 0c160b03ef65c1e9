"""`tracktion tail`: follow `GET /-/api/stream` (§13.5) in the terminal.

One table row per event (time, action, clientId, label, a few params) or `--json` lines. When the
connection drops (server restart, network), it reconnects with `Last-Event-ID` set to the last event id
seen, so the server replays what was committed meanwhile (oldest first, at most 1000) and nothing is lost
or shown twice. A first connection that fails ends it with the error (a wrong URL or a server that is not
running is not waited for). Ctrl-C exits cleanly.
"""

from __future__ import annotations

import functools
import http.client
import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TextIO

from tracktion.domain.definitions import SYSTEM_PARAMS  # §7.2: hidden, the table shows the caller's own
from tracktion.tools.client import ApiError, Client, SSEEvent, SSEParser

STREAM_PATH = "/-/api/stream"
_WIDTHS = (24, 28, 19, 24)  # time, action, client id, label
MAX_BACKOFF_S = 10.0


@dataclass
class TailOptions:
    actions: list[str] = field(default_factory=list)
    client_id: int | None = None
    include_quarantine: bool = False
    json: bool = False
    after: str | None = None  # start by replaying events with a greater seq


def stream_query(options: TailOptions) -> list[tuple[str, str]]:
    q = [("action", a) for a in options.actions]
    if options.client_id is not None:
        q.append(("clientId", str(options.client_id)))
    if options.include_quarantine:
        q.append(("include", "quarantine"))
    return q


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _value(v: Any) -> str:
    return v if isinstance(v, str) else json.dumps(v, separators=(",", ":"), ensure_ascii=False)


def header_row() -> str:
    cols = ("TIME", "ACTION", "CLIENT", "LABEL")
    return "  ".join(c.ljust(w) for c, w in zip(cols, _WIDTHS, strict=True)) + "  PARAMS"


def format_params(params: Any, limit: int = 4) -> str:
    if not isinstance(params, dict):
        return ""
    shown = [f"{k}={_value(v)}" for k, v in params.items() if k not in SYSTEM_PARAMS]
    more = f" (+{len(shown) - limit})" if len(shown) > limit else ""
    return " ".join(shown[:limit]) + more


def format_event(item: dict[str, Any], width: int = 160) -> str:
    client = item.get("client") or {}
    cells = (
        str(item.get("time", "")),
        str(item.get("action", "")),
        str(client.get("id", "")),
        str(item.get("label", "")),
    )
    row = "  ".join(_cut(c, w).ljust(w) for c, w in zip(cells, _WIDTHS, strict=True))
    room = max(20, width - len(row) - 2)
    return row + "  " + _cut(format_params(item.get("params")), room)


def format_quarantine(record: dict[str, Any], width: int = 160) -> str:
    errors = record.get("errors") or []
    first = errors[0] if errors and isinstance(errors[0], dict) else {}
    problem = f"{first.get('field') or '(body)'}: {first.get('message')}" if first else ""
    if len(errors) > 1:
        problem += f" (+{len(errors) - 1})"
    cells = (
        str(record.get("receivedAt", "")),
        "QUARANTINE",
        str(record.get("status", "")),
        str(record.get("reason", "")),
    )
    row = "  ".join(_cut(c, w).ljust(w) for c, w in zip(cells, _WIDTHS, strict=True))
    detail = f"{record.get('endpoint', '')} {problem}".strip()
    return row + "  " + _cut(detail, max(20, width - len(row) - 2))


def render(event: SSEEvent, as_json: bool, width: int) -> str | None:
    if event.event not in ("event", "quarantine"):
        return None
    if as_json:
        return event.data
    try:
        data = json.loads(event.data)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    return format_event(data, width) if event.event == "event" else format_quarantine(data, width)


def follow(
    client: Client,
    options: TailOptions,
    out: TextIO,
    err: TextIO,
    *,
    sleep: Callable[[float], None] = time.sleep,
    stop_after: int | None = None,
) -> int:
    """Print events until interrupted (or `stop_after` rows, for tests). Returns the exit status."""
    parser = SSEParser(last_id=options.after)
    query = stream_query(options)
    state = {"shown": 0, "failures": 0, "connections": 0}

    def opened(message: str) -> None:
        state["failures"] = 0
        state["connections"] += 1
        print(message, file=err, flush=True)
        if state["connections"] == 1 and not options.json:
            print(header_row(), file=out, flush=True)

    try:
        while True:
            width = shutil.get_terminal_size((160, 24)).columns
            resumed = parser.last_id
            verb = "reconnected to" if state["connections"] else "following"
            where = f", resuming after event {resumed}" if resumed else ""
            message = f"tail: {verb} {client.url}{STREAM_PATH}{where} (Ctrl-C to stop)"
            try:
                events = client.stream(
                    STREAM_PATH,
                    query,
                    last_event_id=resumed,
                    parser=parser,
                    on_open=functools.partial(opened, message),
                )
                for event in events:
                    line = render(event, options.json, width)
                    if line is None:
                        continue
                    print(line, file=out, flush=True)
                    state["shown"] += 1
                    if stop_after is not None and state["shown"] >= stop_after:
                        return 0
                reason = "the server closed the stream"
            except ApiError as exc:
                if exc.response.status < 500:
                    raise  # bad filter, credentials or permission: retrying will not help
                reason = f"{exc.response.status} {exc.response.reason}"
            except (OSError, http.client.HTTPException) as exc:
                if not state["connections"]:
                    # Never connected: a wrong URL or a server that is not running. Waiting would only
                    # hide that; reconnecting is for streams that were up and dropped.
                    raise
                reason = str(exc) or type(exc).__name__
            state["failures"] += 1
            base = (parser.retry_ms or 1000) / 1000
            delay = min(MAX_BACKOFF_S, base * 2 ** max(0, state["failures"] - 1))
            after = f" after event {parser.last_id}" if parser.last_id else ""
            print(
                f"tail: connection lost ({reason}); reconnecting in {delay:.1f} s{after}",
                file=err,
                flush=True,
            )
            sleep(delay)
    except KeyboardInterrupt:
        return 0
