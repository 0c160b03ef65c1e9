"""The explorer's reads (docs/api.md §13.6a `GET /-/api/stats`, §13.6b `GET /-/api/profiles`), written once
for SQLite and PostgreSQL. `SQLStore` inherits them; they use its primitives (`_read`, `_storable`) and its
`Dialect`, like `lifecycle_sql`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from tracktion.domain.ports import ProfileDetails, ProfileQuery, StatsQuery
from tracktion.domain.stats import OTHER
from tracktion.storage.dialect import Dialect

_MAX_INT64 = 2**63 - 1


def _after_prefix(prefix: str) -> str | None:
    """The smallest string greater than every string that starts with `prefix` (code point order, which is
    UTF-8 byte order); None when there is none (empty, or ends in the last code point)."""
    while prefix:
        last = ord(prefix[-1])
        if last < 0x10FFFF and not 0xD7FF <= last < 0xE000:
            return prefix[:-1] + chr(last + 1)
        prefix = prefix[:-1]
    return None


_UUID_SHAPE = "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx"


def _uuid_bounds(prefix: str) -> tuple[str, str] | None:
    """The lowest and highest canonical uuid starting with `prefix` (case-insensitive), None if none can."""
    p = prefix.lower()
    if not p or len(p) > len(_UUID_SHAPE):
        return None
    for c, shape in zip(p, _UUID_SHAPE, strict=False):
        if (shape == "-") != (c == "-") or (c != "-" and c not in "0123456789abcdef"):
            return None
    rest = _UUID_SHAPE[len(p) :]
    return p + rest.replace("x", "0"), p + rest.replace("x", "f")


class ExploreSQL:
    """The reads of `GET /-/api/stats` and `GET /-/api/profiles`; `SQLStore` provides the primitives."""

    _d: Dialect

    async def _read(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def _storable(self, value: Any) -> bool:
        return True  # as `LifecycleSQL`'s: PostgreSQL says which text it cannot hold

    async def stats(self, query: StatsQuery) -> list[tuple[str, int, int]]:
        """§13.6a from the counters (`storage.counters`), never the events: one range of the primary key at
        the grain asked for. The keys are ranked in SQL first (their totals); then the top keys' rows come in
        key order within each bucket and the others' are summed per bucket in SQL, so Python handles about
        (top + 1) × buckets rows whatever the number of actions. By action or reason a row is already one
        (bucket, key) (an action has one kind, `catalog.kind_for_action`); by kind, a bucket's actions sum."""
        m = self._d.mark
        table, key = ("quarantine_counts", "reason") if query.by == "reason" else ("event_counts", query.by)
        where = f"workspace_id = {m} AND width = {m} AND bucket_ms >= {m} AND bucket_ms <= {m}"
        params: list[Any] = [query.workspace_id, query.width_ms, query.first_ms, query.last_ms]
        totals = await self._read(
            f"SELECT {key}, CAST(SUM(n) AS BIGINT) FROM {table} WHERE {where} GROUP BY {key} HAVING SUM(n) <> 0",
            params,
        )
        if not totals:
            return []
        ranked = sorted(totals, key=lambda r: (-r[1], r[0]))
        top = [k for k, _ in ranked[: query.top]]
        summed = "CAST(SUM(n) AS BIGINT)"
        if query.by == "kind":
            points = f"SELECT kind, bucket_ms, {summed} FROM {table} WHERE {where} AND n <> 0"
            grouped = " GROUP BY bucket_ms, kind"
        else:
            points = f"SELECT {key}, bucket_ms, n FROM {table} WHERE {where} AND n <> 0"
            grouped = ""
        if len(ranked) <= query.top:
            rows = await self._read(f"{points}{grouped} ORDER BY bucket_ms, {key}", params)
            return cast(list[tuple[str, int, int]], rows)  # (text, bigint, bigint) rows on both drivers
        chosen, chosen_params = self._d.one_of(key, top, "text")
        rows = await self._read(
            f"{points} AND {chosen}{grouped} ORDER BY bucket_ms, {key}", [*params, *chosen_params]
        )
        others = await self._read(
            f"SELECT bucket_ms, {summed} FROM {table} WHERE {where} AND n <> 0 AND NOT ({chosen})"
            " GROUP BY bucket_ms ORDER BY bucket_ms",
            [*params, *chosen_params],
        )
        merged = cast(list[tuple[str, int, int]], rows)
        merged.extend((OTHER, b, n) for b, n in others)  # each key's rows stay in bucket order
        return merged

    async def profiles(self, query: ProfileQuery) -> list[ProfileDetails]:
        """Newest first = clientId descending (clientIds are given in creation order and never reused, §9.1):
        the primary key's order, no index of its own. A prefix is three index ranges (customId, e-mail,
        uuid), each read newest first down to the page's size (see docs/api.md §13.6b for the cost)."""
        m, b, t = self._d.mark, self._d.bytewise, self._d.as_text
        ws, limit = query.workspace_id, query.limit
        after = _MAX_INT64 if query.after is None else query.after
        if query.prefix is None:
            ids = await self._read(
                f"SELECT client_id FROM profiles WHERE workspace_id = {m} AND client_id < {m}"
                f" ORDER BY client_id DESC LIMIT {m}",
                (ws, after, limit),
            )
        else:
            parts: list[str] = []
            params: list[Any] = []
            for column, value in (("custom_id", query.prefix), ("email_lower", query.prefix.lower())):
                high = _after_prefix(value)
                if high is None or not self._storable(value):
                    continue
                parts.append(
                    f"SELECT client_id FROM profiles WHERE workspace_id = {m} AND {column}{b} >= {m}"
                    f" AND {column}{b} < {m} AND client_id < {m}"
                )
                params.extend((ws, value, high, after, limit))
            bounds = _uuid_bounds(query.prefix)
            if bounds is not None:
                low, high_uuid = (self._d.profile_uuid(x) for x in bounds)
                parts.append(
                    f"SELECT client_id FROM profile_uuids WHERE workspace_id = {m} AND uuid >= {m}"
                    f" AND uuid <= {m} AND client_id < {m}"
                )
                params.extend((ws, low, high_uuid, after, limit))
            if not parts:
                return []
            union = " UNION ".join(
                f"SELECT * FROM ({p} ORDER BY client_id DESC LIMIT {m}) AS q" for p in parts
            )
            ids = await self._read(
                f"SELECT client_id FROM ({union}) AS u ORDER BY client_id DESC LIMIT {m}", [*params, limit]
            )
        if not ids:
            return []
        condition, id_params = self._d.one_of("p.client_id", [i for (i,) in ids], "bigint")
        rows = await self._read(
            f"SELECT p.client_id, {t('p.primary_uuid')}, p.custom_id, p.email, p.created_ms, p.updated_ms,"
            f" {t('d.data')} FROM profiles p LEFT JOIN profile_data d"
            " ON d.workspace_id = p.workspace_id AND d.client_id = p.client_id"
            f" WHERE p.workspace_id = {m} AND {condition} ORDER BY p.client_id DESC",
            [ws, *id_params],
        )
        uuid_condition, uuid_params = self._d.one_of("client_id", [r[0] for r in rows], "bigint")
        uuids: dict[int, list[tuple[str]]] = {}
        for client_id, u in await self._read(
            f"SELECT client_id, {t('uuid')} FROM profile_uuids WHERE workspace_id = {m} AND {uuid_condition}"
            " ORDER BY added_ms, uuid",
            [ws, *uuid_params],
        ):
            uuids.setdefault(client_id, []).append((u,))
        return [ProfileDetails.from_rows(r, uuids.get(r[0], []), self._d.json) for r in rows]
