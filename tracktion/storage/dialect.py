"""How one backend spells the shared reads and admin statements (`sql_store.SQLStore`, `filters`), and how
its driver hands values back.

SQLite and PostgreSQL run the same queries over the same tables; what differs is small and listed here:
the placeholder, matching a column against a list, the cast that makes psycopg return text instead of
decoding a column itself, bytewise ordering of text, and the stored form of uuids, JSON, free text, param
names and string lists (see `postgres_schema`'s notes for why PostgreSQL stores them as it does). Each
backend module builds its one `Dialect` next to the helpers it names.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

# (column, values, SQL type name of the values) -> (condition, its parameters)
OneOf = Callable[[str, Sequence[Any], str], tuple[str, list[Any]]]


def as_is(value: Any) -> Any:
    """For a dialect whose driver already returns the wanted form."""
    return value


@dataclass(frozen=True, slots=True)
class Dialect:
    # -- spelling ---------------------------------------------------------------------------------------
    mark: str  # the driver's placeholder: `?` (sqlite3), `%s` (psycopg)
    one_of: OneOf  # a column matched against a list of values
    action_prefix: str  # the first n characters of `action`, n being one placeholder (definition prefixes)
    as_text: Callable[[str], str]  # a selected column, spelt so that the driver returns text (or bytes)
    bytewise: str  # appended to a text ORDER BY term: bytewise order on both, whatever the collation
    # Over `events`: the minute (epoch ms) of the row's receive time (`storage.counters`).
    received_minute: str
    # `workspace_id` spelt so that the planner walks the events in seq order (`order=seq`, §13.2) rather than
    # by an index led by workspace_id: SQLite's rowid is seq; PostgreSQL's key (workspace_id, seq) fits as is.
    seq_walk_workspace: str
    # The five §7.2 origin columns of `e` as the reads select them (`storage.event_params`).
    origin_cols: str

    # -- values: the stored form <-> Python -------------------------------------------------------------
    event_uuid: Callable[[str], Any]  # uuid text -> the form `events.uuid` holds; None: no row can match
    event_uuid_text: Callable[[Any], str]  # `events.uuid` as selected -> its text
    profile_uuid: Callable[[str], Any]  # uuid text -> the form `profile_uuids.uuid` holds; None: no match
    json: Callable[[Any], Any]  # a JSON column's value, decoded
    free_text: Callable[[Any], str]  # caller text that may hold NUL or lone surrogates (label, body)
    param_name: Callable[[Any], str]  # `definition_params.name` as stored
    text_list: Callable[[Any], list[str]]  # a list of strings as stored (types, permissions)
    text_list_param: Callable[[list[str]], Any]  # inverse of `text_list`, as a statement parameter

    # -- plans ------------------------------------------------------------------------------------------
    # The `workspace_id` term of a query that walks events by a seq range (the relay's reads): SQLite would
    # otherwise search a workspace index (all of the workspace's events, then a sort: 45 µs/event at 30k
    # events, measured) instead of the rowid range (6 µs/event); `+col` takes the column out of index
    # choice. PostgreSQL's key (workspace_id, seq) serves the range as it is.
    seq_walk: Callable[[str], str] = as_is
