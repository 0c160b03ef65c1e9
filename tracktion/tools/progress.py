"""A stdlib progress bar for stderr: share of the input read, lines, rate and ETA.

On a terminal the line is redrawn in place (at most 10 times a second); otherwise a plain line is printed
every few seconds, so logs of a long import still show that it moves.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TextIO


def format_duration(seconds: float | None) -> str:
    """`0:07`, `12:03`, `1:02:03`; `--:--` when unknown."""
    if seconds is None or seconds != seconds or seconds < 0 or seconds == float("inf"):
        return "--:--"
    s = int(seconds + 0.5)
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"


def format_count(n: float) -> str:
    """Thousands separated by commas: `12,345`."""
    return f"{int(n):,}"


def format_rate(per_second: float) -> str:
    if per_second >= 100:
        return f"{per_second:,.0f}"
    return f"{per_second:.1f}"


def format_progress(
    *,
    done_bytes: int,
    total_bytes: int | None,
    lines: int,
    elapsed: float,
    rate_bytes: float | None = None,
    rejected: int = 0,
    width: int = 24,
) -> str:
    """`[#########...............]  38.2%  38,200 lines  5,120 lines/s  ETA 0:12  (3 rejected)`.

    The share and ETA come from bytes read (the input's size is known, its line count is not); the rate
    is in lines. `rate_bytes` (bytes/s) defaults to the average since the start."""
    rate = lines / elapsed if elapsed > 0 else 0.0
    parts: list[str] = []
    if total_bytes:
        share = min(1.0, max(0.0, done_bytes / total_bytes))
        filled = int(share * width)
        parts.append("[" + "#" * filled + "." * (width - filled) + "]")
        parts.append(f"{share * 100:5.1f}%")
        per_byte = rate_bytes if rate_bytes is not None else (done_bytes / elapsed if elapsed > 0 else 0.0)
        eta = (total_bytes - done_bytes) / per_byte if per_byte > 0 else None
    else:
        eta = None
    parts.append(f"{format_count(lines)} lines")
    parts.append(f"{format_rate(rate)} lines/s")
    parts.append(f"ETA {format_duration(eta)}" if total_bytes else f"elapsed {format_duration(elapsed)}")
    text = "  ".join(parts)
    if rejected:
        text += f"  ({format_count(rejected)} not stored)"
    return text


class ProgressBar:
    def __init__(
        self,
        stream: TextIO,
        total_bytes: int | None,
        *,
        enabled: bool = True,
        interval: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream
        self.total = total_bytes
        self.enabled = enabled
        isatty = getattr(stream, "isatty", None)
        self.tty = bool(isatty and isatty())
        self.interval = interval if interval is not None else (0.1 if self.tty else 5.0)
        self.clock = clock
        self.started = clock()
        self._last_draw = float("-inf")
        self._width = 0
        self._start_bytes = 0

    def start_at(self, done_bytes: int) -> None:
        """A resumed import starts part-way: the rate and ETA count only this run's bytes."""
        self._start_bytes = done_bytes

    def update(self, *, done_bytes: int, lines: int, rejected: int = 0, force: bool = False) -> None:
        if not self.enabled:
            return
        now = self.clock()
        if not force and now - self._last_draw < self.interval:
            return
        self._last_draw = now
        elapsed = now - self.started
        rate_bytes = (done_bytes - self._start_bytes) / elapsed if elapsed > 0 else None
        text = format_progress(
            done_bytes=done_bytes,
            total_bytes=self.total,
            lines=lines,
            elapsed=elapsed,
            rate_bytes=rate_bytes,
            rejected=rejected,
        )
        if self.tty:
            pad = " " * max(0, self._width - len(text))
            self.stream.write("\r" + text + pad)
            self._width = len(text)
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def finish(self) -> None:
        if self.enabled and self.tty and self._width:
            self.stream.write("\n")
            self.stream.flush()
