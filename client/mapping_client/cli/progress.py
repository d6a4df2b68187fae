"""A dependency-free progress line on stderr: done/total, a bar, images/s and the time left.

On a terminal the line redraws in place; otherwise (a log, a pipe) a line is printed every
``interval_s`` seconds so logs stay short.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

_BAR = 24


class Progress:
    """Counts items done against a total and shows the rate.

    Args:
        total: items to do.
        label: the word before the counts.
        out: where to draw (stderr).
        interval_s: seconds between lines when ``out`` is not a terminal.
    """

    def __init__(
        self, total: int, label: str = "indexing", out: TextIO | None = None,
        interval_s: float = 5.0,
    ) -> None:  # fmt: skip
        self.total = total
        self.done = 0
        self.label = label
        self.out = out or sys.stderr
        self.started = time.perf_counter()
        self._tty = self.out.isatty()
        self._interval = interval_s if not self._tty else 0.1
        self._last_draw = 0.0

    @property
    def rate(self) -> float:
        """Items per second since the start."""
        elapsed = time.perf_counter() - self.started
        return self.done / elapsed if elapsed > 0 else 0.0

    def advance(self, count: int) -> None:
        """``count`` more items are done."""
        self.done += count
        now = time.perf_counter()
        if now - self._last_draw >= self._interval or self.done >= self.total:
            self._last_draw = now
            self._draw()

    def close(self) -> None:
        """End the line (on a terminal)."""
        if self._tty:
            self.out.write("\n")
            self.out.flush()

    def line(self) -> str:
        """The progress line as text."""
        share = self.done / self.total if self.total else 1.0
        filled = round(share * _BAR)
        rate = self.rate
        left = (self.total - self.done) / rate if rate > 0 else None
        eta = f"  ETA {_clock(left)}" if left is not None and self.done < self.total else ""
        return (f"{self.label} {self.done}/{self.total} [{'#' * filled}{'.' * (_BAR - filled)}] "
                f"{share:4.0%}  {rate:.1f} images/s{eta}")  # fmt: skip

    def _draw(self) -> None:
        if self._tty:
            self.out.write("\r" + self.line() + "\x1b[K")
        else:
            self.out.write(self.line() + "\n")
        self.out.flush()


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds + 0.5), 60)
    return f"{minutes}:{secs:02d}"
