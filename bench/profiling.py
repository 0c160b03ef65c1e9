"""Optional py-spy profile of the server during one workload point (`--profile custom@32`).

py-spy samples the server process from outside (`py-spy record --format raw --nolineno`); the collapsed
stacks are saved next to the results and summarised here: the functions with the most samples, on top of
the stack (self) and anywhere in it (total).
"""

from __future__ import annotations

import shutil
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any


def py_spy() -> str | None:
    local = Path(__file__).resolve().parent.parent / ".venv" / "bin" / "py-spy"
    return str(local) if local.exists() else shutil.which("py-spy")


def start(
    pid: int, seconds: float, out: Path, rate: int = 250, gil: bool = False
) -> subprocess.Popen[bytes] | None:
    exe = py_spy()
    if exe is None:
        return None
    cmd = [exe, "record", "-p", str(pid), "-d", str(max(1, round(seconds))), "-r", str(rate)]
    # --subprocesses: on SQLite the writer is a child process of the server.
    cmd += ["--format", "raw", "--nolineno", "--threads", "--subprocesses", "-o", str(out)]
    if gil:
        cmd.append("--gil")
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def summarize_collapsed(text: str, top: int = 25) -> dict[str, Any]:
    """Collapsed stacks (`a;b;c 12` per line, root first) → sample counts per function, self and total."""
    threads: Counter[str] = Counter()
    self_counts: Counter[str] = Counter()
    total_counts: Counter[str] = Counter()
    samples = 0
    for line in text.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = stack.split(";")
        if frames[0].startswith("thread ("):  # --threads puts the thread first: `thread (123): name`
            threads[frames[0].partition(": ")[2] or frames[0]] += n
            frames = frames[1:] or frames
        samples += n
        self_counts[frames[-1]] += n
        for frame in set(frames):
            total_counts[frame] += n

    def table(counts: Counter[str]) -> list[dict[str, Any]]:
        return [
            {"function": f, "samples": n, "percent": round(100.0 * n / samples, 1) if samples else 0.0}
            for f, n in counts.most_common(top)
        ]

    return {
        "samples": samples,
        "threads": dict(threads.most_common()),
        "self": table(self_counts),
        "total": table(total_counts),
    }
