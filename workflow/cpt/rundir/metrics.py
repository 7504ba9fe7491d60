"""The one reader of the trainer's metrics.jsonl, for resume, plan, status, report and live views.

A job killed while writing leaves a torn last line, and a resumed segment may log a
step again: a line that does not parse is skipped and counted (never an exception),
and the last record of a step wins.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from cpt.atomic import write_text


@dataclass
class MetricsLog:
    records: list[dict] = field(default_factory=list)   # one per logged step, in step order
    problems: list[str] = field(default_factory=list)   # "<file>:<line>: ..." per skipped line

    @property
    def skipped_lines(self) -> int:
        return len(self.problems)


def read_metrics(path: str | Path) -> MetricsLog:
    """Tolerates a missing file, torn or foreign lines and steps logged twice."""
    path = Path(path)
    if not path.is_file():
        return MetricsLog()
    by_step: dict[int, dict] = {}
    problems = []
    for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            by_step[int(record["step"])] = record
        except (json.JSONDecodeError, KeyError, TypeError, ValueError):
            problems.append(f"{path}:{number}: unreadable metrics line skipped ({line[:60]!r})")
    return MetricsLog([by_step[s] for s in sorted(by_step)], problems)


def truncate_after(path: str | Path, step: int) -> None:
    """Keep the records up to `step` (a run that died before its next checkpoint logged past it)."""
    path = Path(path)
    if path.exists():
        kept = [r for r in read_metrics(path).records if r["step"] <= step]
        write_text(path, "".join(json.dumps(r) + "\n" for r in kept))
