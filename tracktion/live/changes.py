"""Wake-ups for live streams: a write committed through this process notifies its workspace at once.

Streams read what changed from the store (by `seq`), so a notification carries no data and can never be
lost or reordered; writes made by *other* processes (more workers, more nodes) are found by a short poll.
"""

from __future__ import annotations

import asyncio


class Changes:
    def __init__(self) -> None:
        self._events: dict[int, asyncio.Event] = {}
        self.closed = False

    def notify(self, workspace_id: int) -> None:
        event = self._events.pop(workspace_id, None)
        if event is not None:
            event.set()

    def close(self) -> None:
        """The server is stopping: wake every stream now, and every later `wait` returns at once, so that
        open streams end instead of holding the shutdown up."""
        self.closed = True
        for workspace_id in list(self._events):
            self.notify(workspace_id)

    async def wait(self, workspace_id: int, timeout: float) -> bool:
        """Until the next local commit in the workspace (True), the timeout (False), or `close()` (True)."""
        if self.closed:
            return True
        event = self._events.get(workspace_id)
        if event is None:
            event = self._events[workspace_id] = asyncio.Event()
        try:
            # Not `wait_for`: on Python 3.11 it drops a cancellation that arrives as the event is set.
            async with asyncio.timeout(timeout):
                await event.wait()
        except TimeoutError:
            return False
        return True
