"""The relay's manager stops when told, whatever it was waiting for (docs/api.md §14.4: a node that shuts
down releases its leases at once, so it must get there)."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.support.loops import assert_stop_right_after_a_wake_ends
from tracktion.live.changes import Changes
from tracktion.observability.metrics import Metrics
from tracktion.relay.manager import Relay


class NoDestinations:
    async def destinations(self) -> list[Any]:
        return []


async def test_stop_right_after_a_poke_ends_the_manager() -> None:
    """A poke (a destination changed) and a stop in the same turn of the loop: Python 3.11's
    `asyncio.wait_for` returned the poke instead of the cancellation, the scan loop went on and the app's
    shutdown waited for it forever."""
    relay = Relay(NoDestinations(), Metrics(), Changes())  # type: ignore[arg-type]
    await relay.start()
    await asyncio.sleep(0.05)  # scanned once; now waiting for a poke or the next scan
    await assert_stop_right_after_a_wake_ends(relay._task, relay.poke, relay.stop)
