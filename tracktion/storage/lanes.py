"""The live and bulk lanes of a writer, and which jobs its next commit takes: written once for the writer
thread (`writer.GroupCommitWriter`) and the SQLite writer process (`sqlite_writer_process`).

Live requests and bulk jobs (`tracktion import`, header `X-Tracktion-Lane: bulk`) wait in queues of their
own. Pending live jobs always commit first, together, in a commit of their own; bulk jobs are taken only
when no live job waits, and alone (at most `max_bulk` of them), so a live request never queues behind an
import's backlog nor shares a commit with it: at worst it waits for the one bulk job being written.

No locking here: the writer thread guards its lanes with its own condition, the writer process has one
thread.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar

J = TypeVar("J")

LIVE = "live"
BULK = "bulk"


def lane_of(lane: str) -> str:
    """The lane a job joins: bulk only when asked for by that name (the HTTP layer lower-cases the header);
    anything else is live."""
    return BULK if lane == BULK else LIVE


class Lanes(Generic[J]):
    """Two FIFO queues and the policy that empties them."""

    def __init__(
        self,
        weight: Callable[[J], int],
        *,
        max_weight: int,
        max_jobs: int | None = None,
        max_bulk: int = 1,
    ) -> None:
        self.live: deque[J] = deque()
        self.bulk: deque[J] = deque()
        self._weight = weight  # roughly a job's number of rows, to bound one commit's size
        self._max_weight = max_weight
        self._max_jobs = max_jobs
        self._max_bulk = max_bulk

    def queue(self, lane: str) -> deque[J]:
        return self.bulk if lane_of(lane) == BULK else self.live

    def put(self, lane: str, job: J) -> None:
        self.queue(lane).append(job)

    def pending(self) -> bool:
        return bool(self.live or self.bulk)

    def take(self) -> list[J]:
        """The next commit's jobs: every pending live job up to the commit bounds (weight, number of jobs);
        if there is none, up to `max_bulk` bulk jobs instead; [] when both lanes are empty."""
        group: list[J] = []
        live = self.live
        if live:
            weight = 0
            while (
                live and weight < self._max_weight and (self._max_jobs is None or len(group) < self._max_jobs)
            ):
                job = live.popleft()
                group.append(job)
                weight += self._weight(job)
            return group
        while self.bulk and len(group) < self._max_bulk:
            group.append(self.bulk.popleft())
        return group
