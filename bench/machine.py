"""What the numbers were measured on: cores, CPU, kernel, file system, and the versions of everything used."""

from __future__ import annotations

import contextlib
import os
import platform
import sqlite3
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def cpu_model() -> str | None:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return None


def filesystem(path: Path) -> str:
    """`<type> on <device>` of the mount holding `path` (a tmpfs would make fsync free: worth knowing)."""
    best = ("", "unknown", "unknown")
    target = str(path.resolve())
    with contextlib.suppress(OSError):
        for line in Path("/proc/mounts").read_text().splitlines():
            device, mount, fstype, *_ = line.split()
            if (target == mount or target.startswith(mount.rstrip("/") + "/")) and len(mount) >= len(best[0]):
                best = (mount, fstype, device)
    return f"{best[1]} on {best[2]} (mounted at {best[0] or '?'})"


def git_revision(root: Path) -> str | None:
    try:
        rev = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return rev + (" (with uncommitted changes)" if dirty else "")


def describe(work_dir: Path) -> dict[str, Any]:
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "cores": os.cpu_count(),
        "cores_available": affinity,
        "cpu_model": cpu_model(),
        "kernel": platform.release(),
        "platform": platform.platform(),
        "memory_gib": _memory_gib(),
        "work_dir_filesystem": filesystem(work_dir),
    }


def _memory_gib() -> float | None:
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    return None


def versions(root: Path) -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "tracktion": _version("tracktion"),
        "tracktion_git": git_revision(root),
        "uvicorn": _version("uvicorn"),
        "httptools": _version("httptools"),
        "uvloop": _version("uvloop"),
        "msgspec": _version("msgspec"),
        "sqlite": sqlite3.sqlite_version,
        "psycopg": _version("psycopg"),
    }
