"""Periodic progress lines (rate and ETA) that read well in Slurm logs."""

from __future__ import annotations

import logging
import os
import sys
import time

log = logging.getLogger("cpt")


def hms(seconds: float) -> str:
    """3725.4 -> '1:02:05': the one duration format of every progress line (hours grow past 24)."""
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"


class RateLogger:
    """Logs `what: done/total unit, rate/s, ETA` at most every `interval` seconds.

    Extra counters (e.g. tokens next to documents) are reported with their rates.
    A log line instead of a redrawn bar keeps multi-hour batch logs readable.
    """

    def __init__(self, what: str, total: float | None, unit: str, interval: float = 10.0):
        self.what, self.total, self.unit, self.interval = what, total, unit, interval
        self.start = self.last = time.monotonic()
        self.done = 0.0
        self.counters: dict[str, float] = {}

    def update(self, done: float, **counters: float) -> None:
        self.done += done
        for name, value in counters.items():
            self.counters[name] = self.counters.get(name, 0.0) + value
        now = time.monotonic()
        if now - self.last >= self.interval:
            self.last = now
            log.info(self.line())

    def line(self) -> str:
        elapsed = max(time.monotonic() - self.start, 1e-9)
        rate = self.done / elapsed
        parts = [f"{self.what}: {self.done:,.0f}" + (f"/{self.total:,.0f}" if self.total else "") + f" {self.unit}",
                 f"{rate:,.0f} {self.unit}/s"]
        parts += [f"{value / elapsed:,.0f} {name}/s" for name, value in self.counters.items()]
        if self.total and rate > 0:
            parts.append(f"ETA {hms(max(self.total - self.done, 0) / rate)}")
        return ", ".join(parts)

    def finish(self) -> None:
        log.info(self.line() + f", done in {hms(time.monotonic() - self.start)}")


class RedrawsAsLines:
    """A log file's view of progress bars (tqdm in lm-eval, transformers, datasets): each '\\r'
    redraw becomes a line of its own, and output after a bar starts on a new line, so a batch log
    reads top to bottom with no control characters."""

    def __init__(self, stream):
        self.stream = stream
        self.mid_line = False  # the last write left a line open
        self.bar = False  # ...and that line is a bar's redraw

    def write(self, text: str) -> int:
        out = []
        for i, piece in enumerate(text.split("\r")):
            redraw = i > 0
            if not piece:
                continue
            if self.mid_line and (redraw or self.bar) and not piece.startswith("\n"):
                out.append("\n")
            out.append(piece)
            self.mid_line = not piece.endswith("\n")
            self.bar = redraw and self.mid_line
        self.stream.write("".join(out))
        return len(text)

    def __getattr__(self, name):  # flush, fileno, encoding, isatty: the real stream's
        return getattr(self.stream, name)


def bars_as_log_lines(min_interval_s: float = 30.0) -> None:
    """For a job whose stderr is a log file: progress bars print at most every `min_interval_s` as
    plain lines with their rate and ETA (h:m:s), no bar graphics; short download and load bars go.
    Call before tqdm is imported (it reads TQDM_* then) and before logging is configured (so log
    lines and bars share one stream)."""
    if sys.stderr.isatty():
        return
    os.environ.setdefault("TQDM_MININTERVAL", str(min_interval_s))  # tqdm >= 4.66 reads TQDM_* defaults
    os.environ.setdefault("TQDM_NCOLS", "0")  # stats only: "desc:  45% 450/1000 [01:10<01:25, 6.40it/s]"
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
    sys.stderr = RedrawsAsLines(sys.stderr)
