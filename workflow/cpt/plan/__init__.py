"""The run planner: what a config costs before a node-hour is spent.

Tokens per step and in total, tokens and epochs per source under the mix, steps
that fit in one job, segments, node- and GCD-hours, calendar time for a queue
wait, memory per GCD against its HBM less headroom (modelled; traced too with
--trace-memory) with the largest micro-batch that fits, every job's estimated vs
requested hours (jobs.py, from the rates in rates.py), the data stage's node-hours and
days from the first download to the last eval (data_stage.py), the storage bill's peak
against the quota (storage.py), every candidate layout of the run's ranks (mesh, micro-batch,
activation checkpointing) with its memory and modelled step time, ranked (layouts.py; --layouts
prints them), and the warnings. A request that breaks the queue policy, a job whose estimate
does not fit its request, a memory peak over HBM less headroom, or a data product left unread
past the purge window is an error before anything is submitted.

Measured figures replace config estimates when they exist: source sizes from a
mix manifest, seconds per step from an earlier run's metrics.jsonl, job rates from
its logs and eval results, the model shape from the base model's config.json, and seconds
per step and memory from benchmarks/gpu_train.py's JSON (--measured; measured.py says when
it applies: the same shape and recipe, never scaled from another).

    python -m cpt.plan config.yaml [configs/demo.yaml ...] [--queue-wait-hours H] [--json out.json] [--trace-memory]
                          [--measured gpu_train.json] [--layouts]
"""

from cpt.plan.make import make_plan, mix_warnings, render, warnings
from cpt.plan.memory import largest_micro_batch, memory_per_gcd, param_counts
from cpt.plan.schedule import schedule, seconds_per_step
from cpt.plan.sources import mix_usage, source_sizes, tokens_per_step
from cpt.shape import model_shape

__all__ = ["largest_micro_batch", "make_plan", "memory_per_gcd", "mix_warnings", "mix_usage",
           "model_shape", "param_counts",
           "render", "schedule", "seconds_per_step", "source_sizes", "tokens_per_step", "warnings"]
