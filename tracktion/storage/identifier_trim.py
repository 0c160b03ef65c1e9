"""Migration `0005_trim_identifiers` (docs/api.md §3.2 "Trimming"): identifiers stored before the trimming rule
are trimmed in place, on both backends.

Only `profiles.custom_id` and `profiles.email` (with its `email_lower` key) can hold such values: a stored
uuid always matched the UUID pattern, which admits no white space (and PostgreSQL stores it as `uuid`), and no
other table keeps a profile's identifiers. E-mails are included although Synerise's e-mail pattern already
refused padded values, so the step does not depend on that.

The rule for a padded value, profile by profile in `clientId` order within each workspace:

* trimmed, it is free → the profile keeps it, trimmed;
* trimmed, it already belongs to another profile (an unpadded owner, or a profile earlier in this pass that
  kept it) → it is removed from this profile, whose events stay where they are (§3.2);
* nothing is left after trimming (white space only, which today's rule refuses with 1003) → removed too.

Every removal is logged at WARNING on `tracktion.migrate` (`tracktion migrate` prints these lines, a
starting server logs them) with the workspace, both clientIds and the value as stored, so an operator can
act on it. Timestamps are not changed: this is a repair of the stored form, not a write by a client.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from tracktion.domain.trimming import TRIMMED_CHARS, trim_identifier

MIGRATION_LOG = "tracktion.migrate"
log = logging.getLogger(MIGRATION_LOG)

# (field in messages, stored column, column the uniqueness is on, key of that column from the trimmed value)
_COLUMNS: tuple[tuple[str, str, str, Callable[[str], str]], ...] = (
    ("customId", "custom_id", "custom_id", lambda v: v),
    (
        "email",
        "email",
        "email_lower",
        str.lower,
    ),  # `email_lower` is what §9.1's case-insensitive unique key uses
)
# The characters a padded value starts or ends with, for the backends' SQL pre-filter.
EDGE_CHARACTERS: list[str] = sorted(TRIMMED_CHARS)


class IdentifierRows(Protocol):
    """What the step needs from a backend, inside the migration's transaction."""

    def padded(self, column: str) -> list[tuple[int, int, str]]:
        """(workspace_id, client_id, value) of every profile whose `column` starts or ends with one of
        `EDGE_CHARACTERS`, ordered by workspace_id, client_id."""
        ...

    def owner(self, workspace_id: int, key_column: str, key: str) -> int | None:
        """The clientId whose `key_column` equals `key`, if any."""
        ...

    def set_identifier(self, workspace_id: int, client_id: int, column: str, value: str | None) -> None:
        """Set `column` (and, for `email`, `email_lower`) of one profile; None removes it."""
        ...


@dataclass(frozen=True, slots=True)
class Removal:
    workspace_id: int
    client_id: int
    field: str
    stored: str
    owner: int | None  # the profile holding the trimmed value; None when nothing was left after trimming

    def message(self) -> str:
        stored = json.dumps(self.stored, ensure_ascii=True)  # escapes show which white space it was
        if self.owner is None:
            reason = "it is empty once trimmed"
        else:
            trimmed = json.dumps(trim_identifier(self.stored), ensure_ascii=True)
            reason = f"{trimmed} belongs to profile {self.owner}"
        return (
            f"workspace {self.workspace_id}: {self.field} {stored} removed from profile {self.client_id}"
            f" ({reason}); its events stay on profile {self.client_id}"
        )


def trim_stored_identifiers(rows: IdentifierRows) -> list[Removal]:
    """Trim every padded stored identifier; returns (and logs) the ones that had to be removed."""
    removals: list[Removal] = []
    trimmed_count = 0
    for field, column, key_column, key_of in _COLUMNS:
        for workspace_id, client_id, stored in rows.padded(column):
            value = trim_identifier(stored)
            owner = rows.owner(workspace_id, key_column, key_of(value)) if value else None
            if value and owner is None:
                rows.set_identifier(workspace_id, client_id, column, value)
                trimmed_count += 1
                continue
            rows.set_identifier(workspace_id, client_id, column, None)
            removal = Removal(workspace_id, client_id, field, stored, owner)
            removals.append(removal)
            log.warning("%s", removal.message())
    if trimmed_count or removals:
        log.warning(
            "identifier trimming (docs/api.md §3.2): %d identifier(s) trimmed, %d removed",
            trimmed_count,
            len(removals),
        )
    return removals


class SqlRows:
    """`IdentifierRows` over a DB-API connection of either backend: the SQL below means the same in SQLite and
    PostgreSQL (`substr`/`length` count characters in both); only the placeholder differs."""

    def __init__(self, conn: Any, mark: str) -> None:
        self.conn = conn
        self.mark = mark

    def padded(self, column: str) -> list[tuple[int, int, str]]:
        marks = ", ".join([self.mark] * len(EDGE_CHARACTERS))
        rows = self.conn.execute(
            f"SELECT workspace_id, client_id, {column} FROM profiles"
            f" WHERE substr({column}, 1, 1) IN ({marks}) OR substr({column}, length({column}), 1) IN ({marks})"
            " ORDER BY workspace_id, client_id",
            [*EDGE_CHARACTERS, *EDGE_CHARACTERS],
        ).fetchall()
        return [(int(w), int(c), str(v)) for w, c, v in rows]

    def owner(self, workspace_id: int, key_column: str, key: str) -> int | None:
        m = self.mark
        row = self.conn.execute(
            f"SELECT client_id FROM profiles WHERE workspace_id = {m} AND {key_column} = {m}",
            (workspace_id, key),
        ).fetchone()
        return None if row is None else int(row[0])

    def set_identifier(self, workspace_id: int, client_id: int, column: str, value: str | None) -> None:
        m = self.mark
        where = f"WHERE workspace_id = {m} AND client_id = {m}"
        if column == "email":
            lower = None if value is None else value.lower()
            sql = f"UPDATE profiles SET email = {m}, email_lower = {m} {where}"
            self.conn.execute(sql, (value, lower, workspace_id, client_id))
        else:
            self.conn.execute(f"UPDATE profiles SET {column} = {m} {where}", (value, workspace_id, client_id))


def migration_step(mark: str) -> Callable[[Any], None]:
    """The migration step for a backend whose placeholder is `mark`; run inside the migration's transaction."""

    def trim_identifiers(conn: Any) -> None:
        trim_stored_identifiers(SqlRows(conn, mark))

    return trim_identifiers


__all__ = [
    "EDGE_CHARACTERS",
    "MIGRATION_LOG",
    "IdentifierRows",
    "Removal",
    "SqlRows",
    "migration_step",
    "trim_stored_identifiers",
]
