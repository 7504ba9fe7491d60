"""Read the trainer's metrics.jsonl and bin it the way the loss curves are reported."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from cpt.rundir.metrics import read_metrics

# The training plots the report draws (file stems); the rule lists them as outputs.
TRAINING_PLOTS = ("loss_per_100_steps", "loss_per_coarse_bin", "lr", "tokens_per_s")


@dataclass
class TrainingLog:
    """One record per logged step (the last one wins after a resume re-logs steps)."""
    records: list[dict] = field(default_factory=list)
    skipped_lines: int = 0
    path: Path | None = None

    def series(self, key: str) -> tuple[list[int], list[float]]:
        """(steps, values) of a key, leaving out records without a finite number for it."""
        pairs = [(r["step"], float(r[key])) for r in self.records
                 if isinstance(r.get(key), (int, float)) and math.isfinite(r[key])]
        return [s for s, _ in pairs], [v for _, v in pairs]

    def tokens_seen(self, step: int) -> int | None:
        for record in self.records:
            if record["step"] == step and isinstance(record.get("tokens_seen"), (int, float)):
                return int(record["tokens_seen"])
        return None


def read_log(path: str | Path) -> TrainingLog:
    """Tolerates a missing file, a torn last line (killed job) and steps logged twice (cpt.rundir.metrics)."""
    log = read_metrics(path)
    return TrainingLog(log.records, log.skipped_lines, Path(path))


def bin_means(steps: list[int], values: list[float], size: int) -> tuple[list[int], list[float]]:
    """Mean per bin of `size` steps, keyed by the bin's last step: bin k holds steps (k*size, (k+1)*size]."""
    sums: dict[int, list[float]] = {}
    for step, value in zip(steps, values):
        end = -(-step // size) * size  # ceil to the bin's end step
        sums.setdefault(end, []).append(value)
    ends = sorted(sums)
    return ends, [sum(sums[e]) / len(sums[e]) for e in ends]


def tokens_at(step: int, log: TrainingLog, tokens_per_step: int | None) -> int | None:
    """Tokens seen at `step`: the trainer's own count, else steps x tokens per step."""
    if step == 0:
        return 0
    logged = log.tokens_seen(step)
    if logged is not None:
        return logged
    return None if tokens_per_step is None else step * tokens_per_step
