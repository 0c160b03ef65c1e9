"""Where a background deletion step's time goes (docs/api.md §15.2), on copies of a preloaded SQLite store,
with no other load: per retention step of R rows, the whole step, the work inside the write transaction,
the COMMIT (WAL write + fsync), and the WAL bytes it appended; with `secure_delete` on (as served) and off.

    python -m bench.deletion_probe STORE.db [--rows 1000,250,100,50,20]

STORE.db: a stopped server's `tracktion.db` whose workspace 1 holds events of 2020 (e.g. the data dir of
`python -m bench.relay_bench --only deletion` kept, or any preloaded store); it is copied, never changed.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tracktion.storage.sqlite import SQLiteStore


def _q(values: list[float]) -> str:
    v = sorted(values)
    return f"p50 {v[len(v) // 2] * 1000:6.1f} max {v[-1] * 1000:6.1f} ms"


async def probe(source: Path, scratch: Path, rows: int, secure: bool, steps: int) -> str:
    path = scratch / f"probe-{rows}-{secure}.db"
    shutil.copy(source, path)
    store: Any = SQLiteStore(path)
    if not secure:
        store._secure_delete = lambda tx: None
    backend = store._writer._backend
    commits: list[float] = []
    works: list[float] = []
    commit = backend.commit

    def timed_commit() -> None:
        t = time.perf_counter()
        commit()
        commits.append(time.perf_counter() - t)

    backend.commit = timed_commit
    unit = store._unit

    async def timed_unit(work: Callable[[Any], Any]) -> Any:
        def run(tx: Any) -> Any:
            t = time.perf_counter()
            try:
                return work(tx)
            finally:
                works.append(time.perf_counter() - t)

        return await unit(run)

    store._unit = timed_unit
    await store.start()
    await store._unit(lambda tx: tx.conn.execute("UPDATE workspaces SET retention_days = 1 WHERE id = 1"))
    commits.clear()
    works.clear()
    wal = Path(f"{path}-wal")
    totals: list[float] = []
    grown: list[int] = []
    now = int(time.time() * 1000)
    for _ in range(steps):
        before = wal.stat().st_size if wal.exists() else 0
        t = time.perf_counter()
        await store.retention_step(rows, now, 0)
        totals.append(time.perf_counter() - t)
        grown.append((wal.stat().st_size if wal.exists() else 0) - before)
    await store.close()
    return (
        f"rows {rows:5d} secure_delete {'on ' if secure else 'off'} | step {_q(totals)} | in-tx work {_q(works)}"
        f" | commit {_q(commits)} | WAL/step {statistics.median(grown) / 1024:5.0f} KiB"
        f" | {statistics.median(totals) * 1000 / rows:.3f} ms/row"
    )


async def main(source: Path, sizes: list[int]) -> None:
    with tempfile.TemporaryDirectory(prefix="deletion-probe-") as tmp:
        for rows in sizes:
            for secure in (True, False):
                print(await probe(source, Path(tmp), rows, secure, max(10, 1200 // rows)), flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("store", type=Path)
    parser.add_argument("--rows", default="1000,250,100,50,20")
    args = parser.parse_args()
    asyncio.run(main(args.store, [int(r) for r in args.rows.split(",")]))
