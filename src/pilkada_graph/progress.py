"""A progress line on stderr for work that takes more than a second.

It stays silent for quick work, redraws at most a few times a second, and prints nothing
but the final line when stderr is not a terminal (logs stay readable).
"""

from __future__ import annotations

import sys
import time
from typing import TextIO


class ProgressLine:
    """Callable as ``progress(phase, done, total)``; ``total`` may be None when unknown."""

    def __init__(self, stream: TextIO | None = None, delay: float = 1.0, interval: float = 0.2) -> None:
        self.stream = stream or sys.stderr
        self.started = time.monotonic()
        self.phase_started = self.started
        self.delay = delay
        self.interval = interval
        self.last_draw = 0.0
        self.phase: str | None = None
        self.shown = False
        self.tty = self.stream.isatty()

    def __call__(self, phase: str, done: int, total: int | None) -> None:
        now = time.monotonic()
        finished = total is not None and done >= total
        if phase != self.phase:
            self._end_line()
            self.phase = phase
            self.phase_started = now
        if now - self.started < self.delay:
            return
        if not finished and now - self.last_draw < self.interval:
            return
        self.last_draw = now
        if self.tty or finished:
            self._draw(phase, done, total, now, finished)

    def _draw(self, phase: str, done: int, total: int | None, now: float, finished: bool) -> None:
        elapsed = now - self.phase_started  # each phase (tallies, per-tally checks, ...) its own rate
        rate = done / elapsed if elapsed > 0 else 0.0
        if total:
            text = f"{phase}: {done:,}/{total:,} ({100 * done / total:.0f}%) {rate:,.0f}/s {elapsed:.1f}s"
        else:
            text = f"{phase}: {done:,} {rate:,.0f}/s {elapsed:.1f}s"
        end = "\n" if finished else ""
        self.stream.write(("\r\x1b[K" if self.tty else "") + text + end)
        self.stream.flush()
        self.shown = not finished

    def _end_line(self) -> None:
        if self.shown:
            self.stream.write("\n")
            self.shown = False

    def close(self) -> None:
        self._end_line()
