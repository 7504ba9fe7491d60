"""The training chain's state: segments done and left, last logged metrics, step time, ETA."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from pathlib import Path

from cpt.rundir.metrics import read_metrics
from cpt.rundir.paths import RunDir
from cpt.train.config import TrainConfig


@dataclass
class Training:
    segment_ends: list[int]
    done: list[int]                      # segment ends whose checkpoint is complete
    last: dict | None                    # the newest metrics.jsonl record
    step_seconds: float | None           # median measured step time (first record dropped)
    records: list[dict] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def pending(self) -> list[int]:
        return [end for end in self.segment_ends if end not in self.done]


def training_state(config: dict, run_dir: Path) -> Training:
    train = TrainConfig.from_dict(config["train"])
    run = RunDir(run_dir)
    ends = train.segment_ends()
    done = [end for end in ends if run.marker(end).exists()]
    log = read_metrics(run.metrics)
    records, problems = log.records, log.problems
    times = [r["step_time_s"] for r in records[1:] if isinstance(r.get("step_time_s"), (int, float))]
    return Training(segment_ends=ends, done=done, last=records[-1] if records else None,
                    step_seconds=statistics.median(times) if times else None, records=records,
                    problems=problems)


def eta_hours(state: Training, config: dict, running: bool) -> tuple[float | None, str]:
    """Hours to the last step: steps left at the measured step time (else the planner's), plus
    each segment still to start's start-up overhead and queue wait. None when nothing is left."""
    steps = config["train"]["steps"]
    last_step = state.last["step"] if state.last else 0
    if len(state.done) == len(state.segment_ends):
        return None, "finished"
    planner = config["slurm"]["planner"]
    step_s, source = ((state.step_seconds, "measured") if state.step_seconds
                      else (planner["seconds_per_step"], "planner estimate"))
    to_start = len(state.pending) - (1 if running else 0)
    hours = ((steps - last_step) * step_s / 3600
             + to_start * (planner["queue_wait_hours"] + planner["segment_overhead_minutes"] / 60))
    return hours, f"{step_s:.2f} s/step ({source}), {planner['queue_wait_hours']:g} h queue wait per segment"
