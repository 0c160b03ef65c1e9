"""`tracktion backup` and `tracktion restore` (docs/api.md §15.3).

SQLite: a backup is a directory holding `tracktion.db` (a consistent copy made with `VACUUM INTO`, which
reads one snapshot in a read transaction, so the server keeps committing meanwhile, and writes a compact
file with no WAL) and the signing key. It is built under a temporary name beside the target and renamed
when complete, so the final name only ever holds a whole backup. Every write acknowledged before the backup
started is committed in the WAL by then, so it is in the snapshot.

PostgreSQL: the database is copied by `pg_dump`; tracktion copies the signing key and prints the command.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import time
import uuid
from pathlib import Path

DB_FILE = "tracktion.db"
KEY_FILE = "jwt-private.pem"
MANIFEST = "backup.json"


class BackupError(Exception):
    """A backup or restore that cannot be done; nothing was left under the final name."""


def _temp_beside(target: Path) -> Path:
    return target.with_name(f".{target.name}.partial-{uuid.uuid4().hex[:8]}")


def _copy_key(data_dir: Path, into: Path) -> bool:
    key = data_dir / KEY_FILE
    if not key.exists():
        return False
    shutil.copyfile(key, into / KEY_FILE)
    os.chmod(into / KEY_FILE, 0o600)
    return True


def _make_temp(target: Path) -> Path:
    if target.exists():
        raise BackupError(f"{target} already exists; choose a new backup path")
    parent = target.parent
    if not parent.is_dir():
        raise BackupError(f"{parent} is not a directory")
    temp = _temp_beside(target)
    try:
        temp.mkdir(mode=0o700)
    except OSError as exc:
        raise BackupError(f"cannot write to {parent}: {exc.strerror or exc}") from exc
    return temp


def backup_sqlite(data_dir: Path, target: Path) -> dict[str, object]:
    """Copy the store and the signing key of `data_dir` into the new directory `target`."""
    db = data_dir / DB_FILE
    if not db.exists():
        raise BackupError(f"no store at {db}")
    temp = _make_temp(target)
    try:
        # A plain connection (read-only ones cannot open a WAL file whose -shm is missing); it only reads.
        conn = sqlite3.connect(db, timeout=30.0)
        try:
            conn.execute("PRAGMA busy_timeout = 30000")
            started_ms = time.time_ns() // 1_000_000
            conn.execute("VACUUM INTO ?", (str(temp / DB_FILE),))
            (events,) = conn.execute("SELECT count(*) FROM events").fetchone()
        finally:
            conn.close()
        os.chmod(temp / DB_FILE, 0o600)
        check = _quick_check(temp / DB_FILE)
        manifest: dict[str, object] = {
            "format": "tracktion-sqlite-backup/1",
            "startedAt": started_ms,
            "signingKey": _copy_key(data_dir, temp),
            "quickCheck": check,
        }
        (temp / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        _fsync_dir(temp)
        os.rename(temp, target)
        _fsync_dir(target.parent)
        manifest["path"] = str(target)
        manifest["events"] = events
        return manifest
    except BaseException as exc:
        shutil.rmtree(temp, ignore_errors=True)
        if isinstance(exc, sqlite3.Error | OSError):
            raise BackupError(f"backup failed: {exc}") from exc
        raise


def backup_postgres(data_dir: Path, target: Path, database_url: str) -> dict[str, object]:
    """The signing key into `target`; the database is `pg_dump`'s job (the command is returned)."""
    temp = _make_temp(target)
    try:
        key = _copy_key(data_dir, temp)
        os.rename(temp, target)
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise
    return {
        "path": str(target),
        "signingKey": key,
        "pgDump": f"pg_dump --format=custom --no-owner --file {target / 'tracktion.dump'} '{database_url}'",
        "pgRestore": f"pg_restore --no-owner --dbname '<new database URL>' {target / 'tracktion.dump'}",
    }


def restore_sqlite(source: Path, data_dir: Path) -> dict[str, object]:
    """A backup directory into a new (absent or empty) data dir; nothing is touched if it is not."""
    db = source / DB_FILE
    if not db.is_file():
        raise BackupError(f"{source} is not a tracktion backup (no {DB_FILE})")
    if data_dir.exists() and (not data_dir.is_dir() or any(data_dir.iterdir())):
        raise BackupError(f"{data_dir} is not empty; restore only into a new data dir")
    check = _quick_check(db)
    if check != "ok":
        raise BackupError(f"{db} fails SQLite's quick_check: {check}")
    created = not data_dir.exists()
    try:
        data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(data_dir, 0o700)
        for name in (DB_FILE, KEY_FILE):
            if (source / name).exists():
                shutil.copyfile(source / name, data_dir / name)
                os.chmod(data_dir / name, 0o600)
    except BaseException:
        for name in (DB_FILE, KEY_FILE):
            (data_dir / name).unlink(missing_ok=True)
        if created:
            shutil.rmtree(data_dir, ignore_errors=True)
        raise
    return {"dataDir": str(data_dir), "signingKey": (data_dir / KEY_FILE).exists(), "quickCheck": check}


def _quick_check(db: Path) -> str:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return str(conn.execute("PRAGMA quick_check").fetchone()[0])
    finally:
        conn.close()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
