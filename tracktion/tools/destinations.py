"""`tracktion destinations add|list|status|pause|resume|failures|replay` (docs/api.md §14.3): the relay's API
from the command line, through a running server (`--url`, `--api-key`)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any

from tracktion.tools import ToolError

BASE = "/-/api/destinations"


def register(
    sub: Any,
    client_flags: Callable[[argparse.ArgumentParser], None],
    client: Callable[[argparse.Namespace], Any],
) -> None:
    top = sub.add_parser("destinations", help="forward stored events: destinations, status, failures, replay")
    actions = top.add_subparsers(metavar="ACTION", help="what to do")

    def action(
        name: str, help_text: str, run: Callable[[Any, argparse.Namespace], Any], ident: bool = True
    ) -> argparse.ArgumentParser:
        p = actions.add_parser(name, help=help_text)
        if ident:
            p.add_argument("id", help="destination id")
        client_flags(p)
        p.set_defaults(run=lambda args: _run(args, client, run))
        return p

    add = action("add", "create a destination", _add, ident=False)
    add.add_argument("--name", required=True, help="unique within the workspace, at most 64 characters")
    add.add_argument(
        "--type", required=True, choices=["synerise", "webhook", "nats"], help="where events go (§14.1)"
    )
    add.add_argument("--config", required=True, help="the config as a JSON object")
    add.add_argument("--filter", help='a JSON object: {"actions": [...], "kinds": [...]}')
    add.add_argument(
        "--start",
        choices=["now", "beginning"],
        default="now",
        help="deliver events written from now on (default), or every stored event",
    )
    action("list", "list the workspace's destinations", lambda c, a: _call(c, "GET", BASE), ident=False)
    action(
        "status",
        "a destination's state, cursor, lag and last error",
        lambda c, a: _call(c, "GET", f"{BASE}/{a.id}/status"),
    )
    action("pause", "stop delivering", lambda c, a: _call(c, "POST", f"{BASE}/{a.id}/pause"))
    action("resume", "deliver again", lambda c, a: _call(c, "POST", f"{BASE}/{a.id}/resume"))
    failures = action("failures", "events the destination refused", _failures)
    failures.add_argument("--limit", type=int, default=100, help="at most this many records (default 100)")
    replay = action(
        "replay",
        "deliver stored events again; prints the replay's id (GET …/replays/{replayId} follows it)",
        _replay,
    )
    replay.add_argument("--from", dest="start", help="event time, ISO 8601")
    replay.add_argument("--to", dest="end", help="event time, ISO 8601")
    replay.add_argument("--action", dest="actions", action="append", help="exact action (repeatable)")
    replay.add_argument("--only-failed", action="store_true", help="only the events of the failure records")


def _run(
    args: argparse.Namespace,
    client: Callable[[argparse.Namespace], Any],
    work: Callable[[Any, argparse.Namespace], Any],
) -> int:
    with client(args) as c:
        result = work(c, args)
    print(json.dumps(result, indent=None if args.json else 2, ensure_ascii=False))
    return 0


def _call(c: Any, method: str, path: str, body: Any = None, query: dict[str, Any] | None = None) -> Any:
    from tracktion.tools.client import ApiError

    r = c.request(method, path, body, query=query)
    if not r.ok:
        raise ApiError(method, path, r)
    return r.json() if r.body else None


def _json_arg(text: str | None, name: str) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ToolError(f"{name}: not JSON ({exc})") from None


def _add(c: Any, a: argparse.Namespace) -> Any:
    body: dict[str, Any] = {
        "name": a.name,
        "type": a.type,
        "config": _json_arg(a.config, "--config"),
        "start": a.start,
    }
    if a.filter is not None:
        body["filter"] = _json_arg(a.filter, "--filter")
    return _call(c, "POST", BASE, body)


def _failures(c: Any, a: argparse.Namespace) -> Any:
    items: list[Any] = []
    cursor = None
    while len(items) < a.limit:
        query: dict[str, Any] = {"limit": min(1000, a.limit - len(items))}
        if cursor:
            query["cursor"] = cursor
        page = _call(c, "GET", f"{BASE}/{a.id}/failures", query=query)
        items += page["items"]
        cursor = page["nextCursor"]
        if cursor is None:
            break
    return items


def _replay(c: Any, a: argparse.Namespace) -> Any:
    body: dict[str, Any] = {"onlyFailed": bool(a.only_failed)}
    if a.start:
        body["from"] = a.start
    if a.end:
        body["to"] = a.end
    if a.actions:
        body["actions"] = a.actions
    return _call(c, "POST", f"{BASE}/{a.id}/replay", body)
