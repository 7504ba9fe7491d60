"""The training chain on its Slurm request: step time, segments, node-hours, calendar time."""

from __future__ import annotations

import math
import statistics
from pathlib import Path

from cpt import cluster
from cpt.plan.measured import label
from cpt.rundir.metrics import read_metrics
from cpt.settings import ConfigError

TRAIN_RULE = "train_segment"


def seconds_per_step(config: dict, metrics: Path | None, gpu_benchmark: dict | None = None) -> tuple[float, str]:
    """Median step time of an earlier run's metrics.jsonl (first record, with compile, dropped), else
    the GPU benchmark's (cpt.plan.measured.apply), else config."""
    if metrics is not None and metrics.exists():
        records = read_metrics(metrics).records
        times = [r["step_time_s"] for r in records if isinstance(r.get("step_time_s"), (int, float))]
        if len(times) > 1:
            return statistics.median(times[1:]), f"measured ({metrics}, {len(times) - 1} records)"
    if gpu_benchmark:
        return gpu_benchmark["seconds_per_step"], (f"{label(gpu_benchmark)}: "
                                                   f"{gpu_benchmark['tokens_per_s_per_gpu']:,.0f}"
                                                   " tokens/s/GPU, communication not included")
    return config["slurm"]["planner"]["seconds_per_step"], "config (slurm.planner.seconds_per_step)"


def schedule(config: dict, step_seconds: float, queue_wait_hours: float) -> dict:
    """Segments, their jobs (continuations included), node- and GCD-hours and calendar time of the training
    chain on its request: every job pays the segment overhead and a queue wait."""
    train, planner = config["train"], config["slurm"]["planner"]
    par = train["parallel"]
    tasks = par["dp_replicate"] * par["dp_shard"] * par["tp"]
    req = cluster.request(config, TRAIN_RULE, tasks)
    cluster.check_policy(config, TRAIN_RULE, req)
    usable_s = req["hours"] * 3600 - planner["segment_overhead_minutes"] * 60
    segment_hours = (train["steps_per_segment"] * step_seconds) / 3600 + planner["segment_overhead_minutes"] / 60
    segments = math.ceil(train["steps"] / train["steps_per_segment"])
    fitting = int(usable_s // step_seconds)
    if fitting < 1:
        raise ConfigError(f"not one step of {step_seconds:.1f} s fits slurm.resources.{TRAIN_RULE}.hours="
                          f"{req['hours']:g} after slurm.planner.segment_overhead_minutes="
                          f"{planner['segment_overhead_minutes']:g}; raise the hours or lower the overhead")
    # a segment longer than its job is stopped by the time-limit signal and continues in the next job
    jobs = segments * math.ceil(train["steps_per_segment"] / fitting)
    run_hours = train["steps"] * step_seconds / 3600 + jobs * planner["segment_overhead_minutes"] / 60
    gcds_per_node = config["slurm"]["node"]["gcds"]
    return {
        "tasks": tasks, "nodes": req["nodes"], "partition": req["partition"], "hours": req["hours"],
        "policy_limit_hours": cluster.walltime_limit(config["slurm"]["partitions"], req["partition"], req["nodes"]),
        "steps_fitting_one_job": fitting,
        "segment_hours": segment_hours, "segments": segments, "jobs": jobs,
        "node_hours": run_hours * req["nodes"], "gcd_hours": run_hours * req["nodes"] * gcds_per_node,
        "calendar_days": (run_hours + jobs * queue_wait_hours) / 24,
    }
