"""Counting for `GET /-/api/stats` (docs/api.md §13.6a) and matching for the `param` filter of
`GET /-/api/events` (§13.2): pure functions, no storage. The counters themselves live in
`tracktion.storage.counters`."""

from __future__ import annotations

from typing import Any

from tracktion.domain.timefmt import format_ms

MINUTE_MS = 60_000
HOUR_MS = 3_600_000
DAY_MS = 86_400_000
BUCKETS = {"minute": MINUTE_MS, "hour": HOUR_MS, "day": DAY_MS}
MAX_BUCKETS = 10_000
OTHER = "(other)"
BY = ("action", "kind", "reason")


def bucket_range(from_ms: int, to_ms: int, width_ms: int) -> tuple[int, int, int]:
    """(first bucket start, last bucket start, number of buckets): every bucket holding an instant of
    [from_ms, to_ms]; buckets are whole and aligned on UTC (minute, hour, day)."""
    first = from_ms - from_ms % width_ms
    last = to_ms - to_ms % width_ms
    return first, last, (last - first) // width_ms + 1


class BucketNames:
    """A bucket start's ISO text (`timefmt.format_ms` of a minute-aligned instant), made from a cached day
    prefix: a month by hour names 720 buckets per answer, and `format_ms` costs microseconds each."""

    __slots__ = ("days", "names")

    def __init__(self) -> None:
        self.names: dict[int, str] = {}
        self.days: dict[int, str] = {}

    def __call__(self, ms: int) -> str:
        found = self.names.get(ms)
        if found is not None:
            return found
        day, rest = divmod(ms, DAY_MS)
        prefix = self.days.get(day)
        if prefix is None:
            prefix = self.days[day] = format_ms(day * DAY_MS)[:11]  # "YYYY-MM-DDT"
        hour, rest = divmod(rest, HOUR_MS)
        minute, rest = divmod(rest, MINUTE_MS)
        second, milli = divmod(rest, 1000)
        text = self.names[ms] = f"{prefix}{hour:02d}:{minute:02d}:{second:02d}.{milli:03d}Z"
        return text


def series(rows: list[tuple[str, int, int]], top: int) -> list[tuple[str, int, list[list[Any]]]]:
    """From (key, bucket start, count) rows, one per (key, bucket), each key's in bucket order (as
    `Store.stats` returns them): (key, total, [[bucket start, count]…] in time
    order) for the `top` keys with the largest totals and, when others exist, one `OTHER` summing them (rows
    already under `OTHER` join it: the store sums the keys past `top` itself when it can);
    sorted by total descending, then key (code point order = UTF-8 byte order); empty buckets left out.
    One pass over the rows (30 days by hour of 20 actions is 14,400 of them)."""
    points: dict[str, list[list[Any]]] = {}
    for key, bucket, n in rows:
        found = points.get(key)
        if found is None:
            points[key] = [[bucket, n]]
        else:
            found.append([bucket, n])
    folded = points.pop(OTHER, None)  # the store may have summed the keys past `top` already
    totals = {k: sum(n for _, n in p) for k, p in points.items()}
    ranked = sorted(totals, key=lambda k: (-totals[k], k))
    out = [(k, totals[k], points[k]) for k in ranked[:top]]
    rest = ranked[top:]
    if rest or folded:
        other: dict[int, int] = {}
        for pts in [points[k] for k in rest] + ([folded] if folded else []):
            for bucket, n in pts:
                other[bucket] = other.get(bucket, 0) + n
        out.append((OTHER, sum(other.values()), [[b, other[b]] for b in sorted(other)]))
        out.sort(key=lambda s: (-s[1], s[0]))
    return [(k, total, [p for p in pts if p[1]]) for k, total, pts in out if total or any(p[1] for p in pts)]


def same_json(a: Any, b: Any) -> bool:
    """JSON equality: numbers by value (1 = 1.0), booleans apart from numbers, objects whatever the order of
    their keys, arrays element by element."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_json(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_json(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


def params_match(params: dict[str, Any], wanted: tuple[tuple[str, Any], ...]) -> bool:
    """Every (name, value) of `wanted` is a top-level param of `params` with that JSON value."""
    return all(name in params and same_json(params[name], value) for name, value in wanted)
