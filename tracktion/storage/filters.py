"""The WHERE clauses of the event, quarantine, profile and definition queries, written once for both backends:
they differ only in the dialect's placeholder, in how a column is matched against a list (`Dialect.one_of`)
and in how an action prefix is taken (`Dialect.action_prefix`)."""

from __future__ import annotations

from typing import Any

from tracktion.domain.ports import EventQuery, QuarantineQuery
from tracktion.storage.dialect import Dialect
from tracktion.storage.event_params import endpoint_code


def event_page(query: EventQuery, d: Dialect) -> tuple[str, list[Any]]:
    """` WHERE … ORDER BY … LIMIT …` (over `events e`) and the parameters of one page of an event query:
    newest first, in the order the keyset cursor (`after`) continues. `client_ids` must not be ()."""
    mark = d.mark
    # By arrival, unless one profile's events are asked for (its index, then a sort of its events, is cheaper).
    walk = query.order == "seq" and not query.client_ids
    where = [f"{d.seq_walk_workspace if walk else 'e.workspace_id'} = {mark}"]
    params: list[Any] = [query.workspace_id]
    for column, values, sql_type in (
        ("e.client_id", query.client_ids, "bigint"),
        ("e.action", query.actions, "text"),
    ):
        if values:
            condition, values_params = d.one_of(column, values, sql_type)
            where.append(condition)
            params.extend(values_params)
    _range(where, params, mark, "e.time_ms", query.from_ms, query.to_ms)
    if query.endpoint is not None:
        # Stored as its code since 0011, as the text before (`event_params.ENDPOINT_CODES`).
        where.append(f"e.endpoint IN ({mark}, {mark})")
        params += [query.endpoint, endpoint_code(query.endpoint)]
    if query.order == "seq":  # by arrival (docs/api.md §13.2 `order=seq`): the primary key's order
        if query.after is not None:
            where.append(f"e.seq < {mark}")
            params.append(query.after[1])
        order = "e.seq DESC"
    else:
        _after(where, params, mark, "e.time_ms, e.seq", query.after)
        order = "e.time_ms DESC, e.seq DESC"
    params.append(query.limit)
    return f" WHERE {' AND '.join(where)} ORDER BY {order} LIMIT {mark}", params


def quarantine_filters(query: QuarantineQuery, d: Dialect) -> tuple[str, list[Any]]:
    """The WHERE clause (over `quarantine`) and parameters of a quarantine query."""
    mark = d.mark
    where = [f"workspace_id = {mark}"]
    params: list[Any] = [query.workspace_id]
    for column, value in (("reason", query.reason), ("endpoint", query.endpoint)):
        if value is not None:
            where.append(f"{column} = {mark}")
            params.append(value)
    _range(where, params, mark, "received_ms", query.from_ms, query.to_ms)
    _after(where, params, mark, "received_ms, seq", query.after)
    return " AND ".join(where), params


def _range(
    where: list[str], params: list[Any], mark: str, column: str, low: int | None, high: int | None
) -> None:
    if low is not None:
        where.append(f"{column} >= {mark}")
        params.append(low)
    if high is not None:
        where.append(f"{column} <= {mark}")
        params.append(high)


def _after(where: list[str], params: list[Any], mark: str, key: str, after: tuple[int, int] | None) -> None:
    if after is not None:  # keyset paging, newest first
        where.append(f"({key}) < ({mark}, {mark})")
        params.extend(after)


def profile_filters(
    workspace_id: int,
    d: Dialect,
    *,
    client_id: int | None,
    custom_id: str | None,
    email: str | None,
    uuid: Any | None,
) -> tuple[str, list[Any]]:
    """The WHERE clause (over `profiles`) matching a profile that owns every given identifier; `uuid` comes
    already in the backend's stored form."""
    mark = d.mark
    where = [f"workspace_id = {mark}"]
    params: list[Any] = [workspace_id]
    for column, value in (
        ("client_id", client_id),
        ("custom_id", custom_id),
        ("email_lower", email.lower() if email is not None else None),
    ):
        if value is not None:
            where.append(f"{column} = {mark}")
            params.append(value)
    if uuid is not None:
        where.append(
            f"client_id IN (SELECT client_id FROM profile_uuids WHERE workspace_id = {mark} AND uuid = {mark})"
        )
        params.extend([workspace_id, uuid])
    return " AND ".join(where), params


def definition_filters(
    workspace_id: int, d: Dialect, *, kind: str | None, prefix: str | None, action: str | None
) -> tuple[str, list[Any]]:
    """The WHERE clause (over `definitions`)."""
    mark = d.mark
    where = [f"workspace_id = {mark}"]
    params: list[Any] = [workspace_id]
    if kind is not None:
        where.append(f"kind = {mark}")
        params.append(kind)
    if prefix:
        where.append(f"{d.action_prefix} = {mark}")
        params.extend([len(prefix), prefix])
    if action is not None:
        where.append(f"action = {mark}")
        params.append(action)
    return " AND ".join(where), params
