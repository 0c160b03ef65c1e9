"""Large bodies are processed a bounded number at a time (memory), and the others wait instead of failing."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.support.api import Api
from tests.support.http import MakeApi
from tracktion.domain.models import WriteRequest, WriteResult


def track_concurrent_writes(api: Api) -> dict[str, int]:
    """Wrap the store's write so the test can see how many requests were inside it at once."""
    store = api.app.ctx.store
    original = store.write
    seen = {"inside": 0, "peak": 0}

    async def counting_write(request: WriteRequest) -> WriteResult:
        seen["inside"] += 1
        seen["peak"] = max(seen["peak"], seen["inside"])
        try:
            await asyncio.sleep(0.05)  # long enough for the other requests to pile up
            return await original(request)
        finally:
            seen["inside"] -= 1

    store.write = counting_write  # type: ignore[method-assign]
    return seen


async def test_large_batches_are_processed_one_at_a_time_when_capped(make_api: MakeApi) -> None:
    api = await make_api(max_large_requests=1)
    seen = track_concurrent_writes(api)
    items: list[dict[str, Any]] = [
        {"action": "page.view", "label": "x" * 700, "client": {"customId": f"c{i}"}} for i in range(120)
    ]  # ~100 KB: over the 64 KiB threshold
    responses = await asyncio.gather(*(api.post("/v4/events/batch", items) for _ in range(4)))
    assert [r.status_code for r in responses] == [202] * 4
    assert seen["peak"] == 1
    assert len(await api.events(limit=1000)) == 480


async def test_small_bodies_are_not_held_back(make_api: MakeApi) -> None:
    api = await make_api(max_large_requests=1)
    seen = track_concurrent_writes(api)
    body = {"action": "page.view", "label": "l", "client": {"customId": "c"}}
    responses = await asyncio.gather(*(api.post("/v4/events/custom", body) for _ in range(4)))
    assert [r.status_code for r in responses] == [202] * 4
    assert seen["peak"] > 1
