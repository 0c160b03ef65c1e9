"""`tracktion send`: one request through the real API, built from flags and/or a JSON file.

Types: `custom ACTION`, every dedicated batch type of the catalog (`hit-timer`, `push/clicked`, …, §4.1),
`transaction` (§6), and the array endpoints `batch` (§5.1) and `transaction-batch`. The outcome is printed;
a rejected request prints Synerise's error body explained (status, each error's field, message and code).
"""

from __future__ import annotations

import json
import sys
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

from tracktion.catalog import CatalogRow, custom_row, rows_by_batch_type
from tracktion.tools import ToolError
from tracktion.tools.client import ApiError, Client, Response, encode_json, explain_entry

MAX_INT64 = 2**63 - 1
TRANSACTION = "transaction"
BATCH = "batch"
TRANSACTION_BATCH = "transaction-batch"
_PATHS = {
    TRANSACTION: "/v4/transactions",
    BATCH: "/v4/events/batch",
    TRANSACTION_BATCH: "/v4/transactions/batch",
}


def send_types() -> list[str]:
    """The accepted TYPE names: custom, the dedicated batch types (with the push aliases), then the
    transaction and array endpoints."""
    dedicated = sorted(t for t in rows_by_batch_type() if t != "custom")
    return ["custom", *dedicated, TRANSACTION, BATCH, TRANSACTION_BATCH]


def parse_value(text: str) -> Any:
    """A `--param` value (and a CSV cell): its JSON value when it parses as JSON (numbers, true/false,
    null, objects, arrays, quoted strings), else the text itself. Integers outside signed 64-bit and
    non-finite numbers stay text: the server would refuse the whole body for them."""
    try:
        value = json.loads(text, parse_constant=_refuse)
    except ValueError:
        return text
    if not _representable(value):
        return text
    return value


def _refuse(name: str) -> Any:
    raise ValueError(name)


def _representable(value: Any, depth: int = 1) -> bool:
    if depth > 60:
        return False
    if isinstance(value, bool):
        return True
    if isinstance(value, int):
        return -(2**63) <= value <= MAX_INT64
    if isinstance(value, float):
        return value == value and value not in (float("inf"), float("-inf"))
    if isinstance(value, dict):
        return all(_representable(v, depth + 1) for v in value.values())
    if isinstance(value, list):
        return all(_representable(v, depth + 1) for v in value)
    return True


def parse_param(text: str) -> tuple[str, Any]:
    """`k=v` → (k, typed v). The key is taken literally (dots included)."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise ToolError(f"--param expects NAME=VALUE, got {text!r}")
    return key, parse_value(value)


@dataclass
class SendSpec:
    type: str
    action: str | None = None
    client_id: int | None = None
    custom_id: str | None = None
    email: str | None = None
    uuid: str | None = None
    label: str | None = None
    time: str | None = None
    salt: str | None = None
    params: list[str] = field(default_factory=list)
    file: str | None = None
    partial: bool = False


def build_request(spec: SendSpec, stdin: TextIO | None = None) -> tuple[str, dict[str, str], Any]:
    """(path, query, body) for a spec. Flags override what the file holds; defaults (the catalog's label)
    fill only what neither gives."""
    body = _read_file(spec.file, stdin) if spec.file is not None else None
    if spec.type in (BATCH, TRANSACTION_BATCH):
        if spec.file is None:
            raise ToolError(f"`send {spec.type}` needs --file with a JSON array of items")
        if _has_event_flags(spec) or spec.action:
            raise ToolError(f"`send {spec.type}` takes its items from --file only")
        if not isinstance(body, list):
            raise ToolError(f"--file: `send {spec.type}` expects a JSON array")
        return _PATHS[spec.type], {"partial": "true"} if spec.partial else {}, body
    if spec.partial:
        raise ToolError("--partial applies to `batch` and `transaction-batch` only")
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise ToolError("--file: expected a JSON object for a single event or transaction")
    body = dict(body)
    _apply_client(spec, body)
    if spec.type == TRANSACTION:
        if spec.params or spec.label or spec.action:
            raise ToolError("a transaction takes no --param, --label or ACTION: put its fields in --file")
        if spec.time is not None:
            body["recordedAt"] = spec.time
        if spec.salt is not None:
            body["eventSalt"] = spec.salt
        return _PATHS[TRANSACTION], {}, body
    row = _row(spec.type)
    if row.is_custom:
        if spec.action is not None:
            body["action"] = spec.action
        elif body.get("action") is None:
            raise ToolError("`send custom` needs an ACTION, e.g. `tracktion send custom dog.bark …`")
    elif spec.action is not None:
        raise ToolError(f"`send {spec.type}` stores action {row.action!r}: give no ACTION")
    if spec.label is not None:
        body["label"] = spec.label
    elif body.get("label") is None:
        body["label"] = row.default_label
    if spec.time is not None:
        body["time"] = spec.time
    if spec.salt is not None:
        body["eventSalt"] = spec.salt
    if spec.params:
        params = body.get("params")
        params = dict(params) if isinstance(params, dict) else {}
        for text in spec.params:
            key, value = parse_param(text)
            params[key] = value
        body["params"] = params
    return row.path, {}, body


def _row(type_name: str) -> CatalogRow:
    if type_name == "custom":
        return custom_row()
    row = rows_by_batch_type().get(type_name)
    if row is None:
        raise ToolError(f"unknown type {type_name!r}; known: {', '.join(send_types())}")
    return row


def _has_event_flags(spec: SendSpec) -> bool:
    return any(
        v is not None
        for v in (spec.client_id, spec.custom_id, spec.email, spec.uuid, spec.label, spec.time, spec.salt)
    ) or bool(spec.params)


def _apply_client(spec: SendSpec, body: dict[str, Any]) -> None:
    given = {"id": spec.client_id, "customId": spec.custom_id, "email": spec.email, "uuid": spec.uuid}
    given = {k: v for k, v in given.items() if v is not None}
    if not given:
        return
    client = body.get("client")
    body["client"] = {**(client if isinstance(client, dict) else {}), **given}


def _read_file(name: str, stdin: TextIO | None) -> Any:
    try:
        if name == "-":
            text = (stdin or sys.stdin).read()
        else:
            with open(name, encoding="utf-8") as f:
                text = f.read()
    except OSError as exc:
        raise ToolError(f"--file: {exc}") from None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ToolError(f"--file {name}: not JSON ({exc})") from None


# -- sending and printing ------------------------------------------------------------------------------
@dataclass
class Outcome:
    status: int
    path: str
    request_id: str
    response: Response
    quarantined: list[dict[str, Any]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"status": self.status, "path": self.path, "requestId": self.request_id}
        body = self.response.json() if self.response.body else None
        if body is not None:
            out["body"] = body
        if self.quarantined:
            out["quarantined"] = [
                {"reason": q.get("reason"), "itemIndex": q.get("itemIndex")} for q in self.quarantined
            ]
        return out


def send(client: Client, path: str, query: dict[str, str], body: Any) -> Outcome:
    request_id = f"cli-{uuid.uuid4().hex[:20]}"
    r = client.request("POST", path, raw=encode_json(body), query=query, headers={"X-Request-Id": request_id})
    if r.status not in (202, 207):
        raise ApiError("POST", path, r)
    outcome = Outcome(r.status, path, r.headers.get("x-request-id", request_id), r)
    if r.status == 202:
        outcome.quarantined = _quarantine_of(client, path, outcome.request_id)
    return outcome


def _quarantine_of(client: Client, path: str, request_id: str) -> list[dict[str, Any]]:
    """A 202 can still mean "quarantined" (a lone unknown client id, §9.2): look for this request's
    records. Best effort: a key without `API_EVENTS_READ` simply skips the check."""
    try:
        page = client.get_json("/-/api/quarantine", {"endpoint": path, "limit": 100})
    except (ApiError, OSError, ValueError):
        return []
    items = page.get("items", []) if isinstance(page, dict) else []
    return [q for q in items if isinstance(q, dict) and q.get("requestId") == request_id]


def describe(outcome: Outcome) -> str:
    head = (
        f"{outcome.status} {outcome.response.reason} · POST {outcome.path} · request id {outcome.request_id}"
    )
    lines = [head]
    if outcome.status == 207:
        data = outcome.response.json()
        lines.append(
            f"accepted {data.get('accepted')}, quarantined {data.get('quarantined')}, rejected {data.get('rejected')}"
        )
        for result in data.get("results", []):
            lines.extend(describe_result(result))
    for record in outcome.quarantined:
        where = f" (item {record['itemIndex']})" if record.get("itemIndex") is not None else ""
        lines.append(
            f"quarantined{where}: {record.get('reason')}; not stored as an event (see /-/api/quarantine)"
        )
    if outcome.status == 202 and not outcome.quarantined:
        lines.append("stored")
    return "\n".join(lines)


def describe_result(result: dict[str, Any]) -> Sequence[str]:
    """One §5.4 result, for items that were not simply stored."""
    index = result.get("index")
    if result.get("quarantined"):
        return [f"  [{index}] quarantined: {result.get('reason')}"]
    if result.get("status") != 202:
        return [f"  [{index}] {result.get('status')}: " + explain_entry(e) for e in result.get("errors", [])]
    return []
