"""WAL checkpoints off the writer's path.

With SQLite's default (`wal_autocheckpoint`), the commit that crosses 1000 WAL pages copies the WAL back
into the database file and fsyncs it before it returns: every few large batches, one group of requests waits
for that extra I/O. Here the writer's connection never checkpoints; a thread of its own runs a PASSIVE
checkpoint (which never blocks the writer or readers) a few times a second. Durability is unchanged: a
committed transaction is durable in the WAL, fsync'd at commit; the checkpoint only moves it.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable

log = logging.getLogger("tracktion.storage")


class Checkpointer:
    def __init__(self, connect: Callable[[], sqlite3.Connection], interval: float = 0.2) -> None:
        self._connect = connect
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tracktion-checkpoint", daemon=True)
        self.checkpoints = 0

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        conn = self._connect()
        failing = False
        try:
            while not self._stop.wait(self._interval):
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                    self.checkpoints += 1
                    failing = False
                except sqlite3.Error as exc:
                    # Disk full, I/O error: the WAL keeps the data and the next round tries again; the
                    # writer reports its own failures (503) and readiness.
                    if not failing:
                        log.warning("WAL checkpoint failed: %s", exc)
                    failing = True
        finally:
            conn.close()
