"""Background loops (the relay manager, the lifecycle worker) must stop when told, whatever they wait for."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable


async def assert_stop_right_after_a_wake_ends(
    task: asyncio.Task[None] | None, wake: Callable[[], None], stop: Callable[[], Awaitable[None]]
) -> None:
    """A wake and a stop in the same turn of the loop: the cancellation must not be lost (Python 3.11's
    `asyncio.wait_for` returned the event's result instead, the loop went on, and the app's shutdown waited
    for it forever). `task` is the loop's task, waiting for its wake-up."""
    assert task is not None
    wake()
    stopping = asyncio.ensure_future(stop())
    await asyncio.wait({stopping}, timeout=2)
    assert task.done(), "the loop went on after stop()"
    await stopping
