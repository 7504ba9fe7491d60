"""Periodic progress lines (rate and ETA) that read well in Slurm logs."""

from __future__ import annotations

import logging
import time

log = logging.getLogger("cpt")


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
            parts.append(f"ETA {max(self.total - self.done, 0) / rate:,.0f} s")
        return ", ".join(parts)

    def finish(self) -> None:
        log.info(self.line() + f", done in {time.monotonic() - self.start:,.1f} s")
