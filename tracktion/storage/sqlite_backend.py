"""The SQLite file as the writer opens it: connection settings, migrations, and the writer's `Backend` (the
transaction around `SQLiteTx`, the lock the writers of several processes take turns on).

A module of its own so that both the store (`sqlite`, the writer thread) and the writer process
(`sqlite_writer_process`) import it, and neither imports the other's internals."""

from __future__ import annotations

import fcntl
import os
import sqlite3
from pathlib import Path

from tracktion.storage.sqlite_schema import MIGRATIONS
from tracktion.storage.sqlite_tx import IdentityCache, SQLiteTx
from tracktion.storage.writer import LazySavepoints


def connect(path: Path) -> sqlite3.Connection:
    """A connection usable from any thread (the read pool hands them around), in autocommit: transactions
    are explicit BEGINs. The busy timeout covers the moments another process holds the file's lock."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=10.0)
    conn.execute("PRAGMA busy_timeout = 10000")
    return conn


def migrate(conn: sqlite3.Connection) -> list[str]:
    """Apply the named migrations not yet recorded; each in its own transaction. Returns those applied."""
    conn.execute(
        "CREATE TABLE IF NOT EXISTS tracktion_migrations (name TEXT PRIMARY KEY, applied_ms INTEGER)"
    )
    done = {r[0] for r in conn.execute("SELECT name FROM tracktion_migrations")}
    applied = []
    for name, statements in MIGRATIONS:
        if name in done:
            continue
        conn.execute("BEGIN IMMEDIATE")
        try:
            if conn.execute("SELECT 1 FROM tracktion_migrations WHERE name = ?", (name,)).fetchone():
                conn.execute("ROLLBACK")  # another process got there first
                continue
            for step in statements:
                if callable(step):  # a data migration (e.g. 0005_trim_identifiers), same transaction
                    step(conn)
                else:
                    conn.execute(step)
            conn.execute(
                "INSERT INTO tracktion_migrations VALUES (?, CAST(unixepoch('subsec') * 1000 AS INTEGER))",
                (name,),
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        applied.append(name)
    return applied


# The writer connection's settings; the benchmark's storage ceiling (bench/storage_ceiling.py) uses the same.
WRITER_PRAGMAS = (
    "PRAGMA journal_mode = WAL",
    # FULL: the WAL is fsync'd at every commit, so a 202 survives power loss, not just a crash.
    "PRAGMA synchronous = FULL",
    # Every row of a commit dirties a random page of two indexes (event uuid, profile): with SQLite's 2 MiB
    # default a 1000-row commit spills pages mid-transaction and re-reads them. 64 MiB measured 1000-item
    # batches +23-50% (13.4k -> 16.4k events/s at 1 connection, 6.6k -> 10.0k at 64), for ~65 MB of RSS.
    "PRAGMA cache_size = -65536",
    "PRAGMA wal_autocheckpoint = 0",  # the Checkpointer's thread does it, off the commit path
    # A statement journal or temp index that outgrows its in-memory start goes to a file in /var/tmp
    # otherwise: one pwrite per page on the commit path.
    "PRAGMA temp_store = MEMORY",
)


class SQLiteBackend(LazySavepoints):
    """The writer's side of one SQLite file: one connection, BEGIN IMMEDIATE under the writer lock, and the
    commit of `SQLiteTx`. The job's savepoint is opened by the transaction itself, at the job's first direct
    write: most requests (events of known profiles) write nothing before the commit's one executemany."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.conn: sqlite3.Connection | None = None
        self.tx: SQLiteTx | None = None
        self.identities = IdentityCache()
        self.key_numbers: dict[bytes, int | bytes] = {}  # `SQLiteTx._key_number`: never stale, kept for good
        self._lock_fd: int | None = None

    def open(self) -> None:
        conn = connect(self.path)
        for pragma in WRITER_PRAGMAS:
            conn.execute(pragma)
        migrate(conn)
        self.conn = conn
        self._lock_fd = os.open(writer_lock_path(self.path), os.O_RDWR | os.O_CREAT, 0o600)

    def begin(self) -> SQLiteTx:
        assert self.conn is not None
        self._lock()
        try:
            self.conn.execute("BEGIN IMMEDIATE")
            # Under the write lock: nobody else can commit until we do, so this says whether anyone did since.
            (version,) = self.conn.execute("PRAGMA data_version").fetchone()
        except BaseException:
            self.rollback()
            raise
        self.identities.begin(version, self._identity_changes)
        self.tx = SQLiteTx(self.conn, self.identities, self.key_numbers)
        return self.tx

    def _identity_changes(self) -> int:
        assert self.conn is not None
        (n,) = self.conn.execute("SELECT n FROM identity_changes WHERE id = 1").fetchone()
        return int(n)

    # Writers of several processes on one file (`serve --workers N`, the CLI next to a server) take turns
    # through a blocking lock on a file beside it: the waiting writer sleeps in the kernel (GIL released) and
    # wakes the moment the other commits. SQLite's own busy handler polls with growing sleeps instead, which
    # was measured at a 1.6 s p99 with two workers.
    def _lock(self) -> None:
        if self._lock_fd is not None:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX)

    def _unlock(self) -> None:
        if self._lock_fd is not None:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def commit(self) -> None:
        assert self.conn is not None and self.tx is not None
        tx, self.tx = self.tx, None
        tx.finish()  # the commit's pending rows and definitions, once for every job of the group
        self.conn.execute("COMMIT")
        self._unlock()
        tx.committed()

    def rollback(self) -> None:
        self.tx = None
        try:
            if self.conn is not None and self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
        finally:
            self._unlock()

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None


def writer_lock_path(db: Path) -> Path:
    """The file beside the database whose lock the writers of every process take turns on."""
    return db.with_name(db.name + ".writer-lock")
