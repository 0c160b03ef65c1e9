"""Counting for `GET /-/api/stats` (docs/api.md §13.6a) and matching for the `param` filter of
`GET /-/api/events` (§13.2): pure functions, no storage. The counters themselves live in
`tracktion.storage.counters`."""

from __future__ import annotations

from typing import Any

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


def series(rows: list[tuple[str, int, int]], top: int) -> list[tuple[str, int, list[tuple[int, int]]]]:
    """From (key, bucket start, count) rows: (key, total, [(bucket start, count)…] in time order) for the
    `top` keys with the largest totals and, when others exist, one `OTHER` summing them; sorted by total
    descending, then key (code point order = UTF-8 byte order). Empty buckets are left out."""
    totals: dict[str, int] = {}
    points: dict[str, dict[int, int]] = {}
    for key, bucket, n in rows:
        totals[key] = totals.get(key, 0) + n
        by_bucket = points.setdefault(key, {})
        by_bucket[bucket] = by_bucket.get(bucket, 0) + n
    ranked = sorted(totals, key=lambda k: (-totals[k], k))
    out = [(k, totals[k], points[k]) for k in ranked[:top]]
    rest = ranked[top:]
    if rest:
        other: dict[int, int] = {}
        for k in rest:
            for bucket, n in points[k].items():
                other[bucket] = other.get(bucket, 0) + n
        out.append((OTHER, sum(totals[k] for k in rest), other))
        out.sort(key=lambda s: (-s[1], s[0]))
    return [(k, total, sorted((b, n) for b, n in p.items() if n)) for k, total, p in out]


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
