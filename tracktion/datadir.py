"""The data dir and the store's files are readable by their owner only (docs/api.md §13.8).

The data dir holds the SQLite store and the JWT signing key: with the usual umask (022) a plain `mkdir` and
SQLite's own file creation leave both world-readable (0755 / 0644), so any local user could copy every
event, profile and quarantined body. Here the dir is created 0700 and the database file 0600 before SQLite
first opens it (SQLite then gives its `-wal` and `-shm` files the database's mode, whatever the umask).
An existing dir or file that others can read or write is fixed at start and reported once, as the signing
key already is (`auth.jwt._tighten_mode`).
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

log = logging.getLogger("tracktion")

DIR_MODE = 0o700
FILE_MODE = 0o600


def prepare(data_dir: Path) -> None:
    """Create the data dir (0700), or take away what group and others may do with an existing one."""
    data_dir = Path(data_dir)
    try:
        data_dir.mkdir(mode=DIR_MODE, parents=True)
    except FileExistsError:
        _tighten(data_dir)
    else:
        data_dir.chmod(DIR_MODE)  # the umask may have cleared owner bits: make the mode exact


def private_sqlite(db: Path) -> None:
    """Before SQLite opens `db`: create it empty with mode 0600 (an empty file is an empty database), or fix
    the modes of an existing database and of its files beside it."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(db, flags, FILE_MODE)
    except FileExistsError:
        # The database, its -wal and -shm, and whatever else the store keeps beside them (its writer lock).
        for path in sorted(db.parent.glob(db.name + "*")):
            if path.is_file():
                _tighten(path)
        return
    try:
        os.fchmod(fd, FILE_MODE)
    finally:
        os.close(fd)


def _tighten(path: Path) -> None:
    mode = stat.S_IMODE(path.stat().st_mode)
    if not mode & 0o077:
        return
    tight = mode & ~0o077
    try:
        path.chmod(tight)
    except OSError:
        log.warning("%s has mode %o and cannot be changed; it should be %o (owner only)", path, mode, tight)
        return
    log.warning("%s had mode %o, readable or writable by others; changed to %o", path, mode, tight)
