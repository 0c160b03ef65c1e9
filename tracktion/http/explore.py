"""The explorer's reads: volume over time (`GET /-/api/stats`, docs/api.md §13.6a) and the profile list
(`GET /-/api/profiles`, §13.6b)."""

from __future__ import annotations

from typing import Any

from tracktion.domain import stats
from tracktion.domain.models import Credential
from tracktion.domain.ports import ProfileQuery, StatsQuery
from tracktion.domain.timefmt import format_ms
from tracktion.errors import BadParameter
from tracktion.http import query
from tracktion.http.context import Context
from tracktion.http.profiles import profile_json
from tracktion.http.request import Request, Response, json_response

DEFAULT_RANGE_MS = stats.DAY_MS
MAX_TOP, DEFAULT_TOP = 50, 10
_MAX_PREFIX = 256  # characters; an identifier is at most that long (§3.2)


def _choice(request: Request, name: str, allowed: tuple[str, ...], default: str) -> str:
    raw = request.query_one(name)
    if raw is None:
        return default
    if raw not in allowed:
        raise BadParameter(f"{name} must be one of {', '.join(allowed)}", field=name, rejected_value=raw)
    return raw


def _top(request: Request) -> int:
    raw = request.query_one("top")
    if raw is None:
        return DEFAULT_TOP
    number = query.int64(raw)
    if number is None or not 1 <= number <= MAX_TOP:
        raise BadParameter(f"top must be an integer between 1 and {MAX_TOP}", field="top", rejected_value=raw)
    return number


async def get_stats(ctx: Context, request: Request, credential: Credential, body: Any) -> Response:
    """Stored events (by action or kind, by receive time) or quarantine records (by reason) per bucket."""
    bucket = _choice(request, "bucket", tuple(stats.BUCKETS), "hour")
    by = _choice(request, "by", stats.BY, "action")
    top = _top(request)
    start, end = query.time_range(request, "from", "to")
    if end is None:
        end = max(request.received_ms, start) if start is not None else request.received_ms
    if start is None:
        start = end - DEFAULT_RANGE_MS
    width = stats.BUCKETS[bucket]
    first, last, count = stats.bucket_range(start, end, width)
    if count > stats.MAX_BUCKETS:
        raise BadParameter(
            f"from..to spans {count} buckets of a {bucket}; at most {stats.MAX_BUCKETS}",
            field="bucket",
            rejected_value=bucket,
        )
    rows = await ctx.store.stats(StatsQuery(credential.workspace_id, by, width, first, last, top))
    found = stats.series(rows, top)
    name = stats.BucketNames()
    names = {b: name(b) for b in range(first, last + 1, width)} if count <= 2 * len(rows) else {}
    for _, _, points in found:
        for point in points:  # [start ms, n] becomes [ISO text, n]
            point[0] = names.get(point[0]) or name(point[0])
    return json_response(
        {
            "bucket": bucket,
            "from": format_ms(start),
            "to": format_ms(end),
            "by": by,
            "series": [{"key": key, "total": total, "points": points} for key, total, points in found],
        }
    )


def _profile_cursor(request: Request) -> int | None:
    raw = request.query_one("cursor")
    if raw is None:
        return None
    value = query.int64(raw)
    if value is None or value == 0:
        raise BadParameter("cursor is not valid", field="cursor", rejected_value=raw)
    return value


async def list_profiles(ctx: Context, request: Request, credential: Credential, body: Any) -> Response:
    """The workspace's profiles, newest first, optionally those with an identifier starting with `prefix`."""
    prefix = request.query_one("prefix")
    if prefix is not None and (prefix == "" or len(prefix) > _MAX_PREFIX):
        raise BadParameter(
            f"prefix must be 1 to {_MAX_PREFIX} characters", field="prefix", rejected_value=prefix
        )
    limit = query.limit(request)
    found = await ctx.store.profiles(
        ProfileQuery(credential.workspace_id, prefix, limit + 1, _profile_cursor(request))
    )
    items = found[:limit]
    cursor = str(items[-1].client_id) if len(found) > limit else None
    return json_response({"items": [profile_json(p) for p in items], "nextCursor": cursor})
