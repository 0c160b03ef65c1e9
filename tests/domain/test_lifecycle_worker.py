"""The background deletion's pacing (docs/api.md §15.1, §15.2): after each step it rests at least as long as
the step took (duty 0.5), so live writes get the writer at least half of the time while a long deletion runs;
and each step's rows are sized so that it takes about `step_seconds`, what a live write may wait for it."""

from __future__ import annotations

import asyncio
import time

from tests.support.loops import assert_stop_right_after_a_wake_ends
from tracktion.domain.lifecycle import MIN_STEP_ROWS, LifecycleWorker


class SlowStore:
    """Each erasure step holds "the writer" for `step` seconds; `steps` of them, then nothing to do."""

    def __init__(self, steps: int, step: float) -> None:
        self.left = steps
        self.step = step
        self.spans: list[tuple[float, float]] = []

    async def erasure_step(self, chunk_rows: int, now_ms: int) -> bool:
        if not self.left:
            return False
        self.left -= 1
        started = time.monotonic()
        await asyncio.sleep(self.step)
        self.spans.append((started, time.monotonic()))
        return True

    async def retention_step(self, chunk_rows: int, now_ms: int, quarantine_retention_days: int) -> int:
        return 0


async def test_steps_rest_as_long_as_they_took() -> None:
    store = SlowStore(steps=4, step=0.05)
    worker = LifecycleWorker(store, lambda: 0, start_delay=0, pause=0.001)
    worker.start()
    deadline = time.monotonic() + 10
    while store.left or len(store.spans) < 4:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.01)
    await worker.stop()
    for (_, end), (start, _) in zip(store.spans, store.spans[1:], strict=False):
        assert start - end >= 0.045  # the rest after a 0.05 s step (a loaded machine only lengthens it)


async def test_a_lower_duty_rests_longer() -> None:
    store = SlowStore(steps=2, step=0.04)
    worker = LifecycleWorker(store, lambda: 0, start_delay=0, pause=0.001, duty=0.2)
    worker.start()
    deadline = time.monotonic() + 10
    while len(store.spans) < 2:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.01)
    await worker.stop()
    (_, end), (start, _) = store.spans
    assert start - end >= 0.15  # 0.04 · (1 − 0.2) / 0.2 = 0.16


async def test_stop_right_after_a_wake_ends_the_worker() -> None:
    """A wake and a stop in the same turn of the loop: the cancellation must not be lost (Python 3.11's
    `asyncio.wait_for` returned the event's result instead, and the app's shutdown waited forever)."""
    store = SlowStore(steps=0, step=0)
    worker = LifecycleWorker(store, lambda: 0, start_delay=0, pause=0.001, idle_seconds=60)
    worker.start()
    await asyncio.sleep(0.05)  # idle: waiting for a wake
    await assert_stop_right_after_a_wake_ends(worker._task, worker.wake, worker.stop)


class Recording:
    """Records the rows each step was given; `busy` steps, then nothing to do."""

    def __init__(self, busy: int) -> None:
        self.left = busy
        self.rows: list[int] = []

    async def erasure_step(self, chunk_rows: int, now_ms: int) -> bool:
        return False

    async def retention_step(self, chunk_rows: int, now_ms: int, quarantine_retention_days: int) -> int:
        if not self.left:
            return 0
        self.left -= 1
        self.rows.append(chunk_rows)
        return chunk_rows


def test_step_rows_follow_the_step_duration() -> None:
    """Live writes queue behind the step being committed: its rows are scaled towards `step_seconds`,
    growing at most ×2 per step, never past `chunk_rows` nor below MIN_STEP_ROWS."""
    worker = LifecycleWorker(Recording(0), lambda: 0, chunk_rows=1000, step_seconds=0.01)
    assert worker.step_rows == 100
    assert worker.next_rows(0.005) == 200  # twice as fast as wanted: doubles (at most)
    assert worker.next_rows(0.0001) == 200
    assert worker.next_rows(0.02) == 50  # twice too slow: halves
    assert worker.next_rows(10.0) == MIN_STEP_ROWS
    worker.step_rows = 800
    assert worker.next_rows(0.001) == 1000
    fixed = LifecycleWorker(Recording(0), lambda: 0, chunk_rows=1000, step_seconds=0)
    assert fixed.step_rows == 1000 and fixed.next_rows(10.0) == 1000
    tiny = LifecycleWorker(Recording(0), lambda: 0, chunk_rows=7, step_seconds=0.01)
    assert tiny.step_rows == 7 and tiny.next_rows(10.0) == 7


async def test_background_steps_use_the_sized_rows_and_run_until_idle_the_full_chunk() -> None:
    store = Recording(busy=3)
    worker = LifecycleWorker(store, lambda: 0, chunk_rows=1000, start_delay=0, pause=0.001)
    worker.start()
    deadline = time.monotonic() + 10
    while store.left:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.01)
    await worker.stop()
    assert store.rows[0] == 100 and all(MIN_STEP_ROWS <= r <= 1000 for r in store.rows)
    store.left = 2
    await worker.run_until_idle()
    assert store.rows[-2:] == [1000, 1000]
