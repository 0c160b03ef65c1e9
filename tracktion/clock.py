"""The wall clock, in one place: the HTTP context's default clock, the first-start bootstrap and the CLI read
it here. Domain code never does (it is given the time), so tests inject their own."""

from __future__ import annotations

import time


def now_ms() -> int:
    return time.time_ns() // 1_000_000
