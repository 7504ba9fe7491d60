"""Evaluation on its Slurm request: what the (step, task) lm-eval runs cost in node-hours.

Frontier charges whole nodes. With eval.node_jobs, one node job per evaluated step runs its
tasks at once, one GCD each (rule eval_step), so a step costs one node for as long as its
tasks take packed onto the GCDs (more tasks than GCDs queue inside the job); otherwise every
(step, task) is its own node job (rule eval_task) holding one GCD of eight. Each task's hours
come from slurm.planner.rates.eval_task (or an earlier run's measured results).
"""

from __future__ import annotations

import heapq

from cpt import cluster
from cpt.evaluate.steps import evaluated_steps


def packed_hours(hours: list[float], gcds: int) -> float:
    """How long one node job runs `hours` tasks on `gcds` GCDs, each task taking the first free
    GCD longest first (as a job that starts its tasks in that order)."""
    free_at = [0.0] * min(gcds, len(hours))
    for h in sorted(hours, reverse=True):
        heapq.heappush(free_at, heapq.heappop(free_at) + h)
    return max(free_at)


def evaluation(config: dict, by_task: dict[str, dict]) -> dict:
    """Eval runs, the node jobs they take, and node-hours, against one node job per run.
    `by_task`: each task's hours on one GCD (rates.eval_task_hours, as the jobs table has them)."""
    steps = len(evaluated_steps(config["eval"]["every"], config["train"]["steps"]))
    hours = [t["hours"] for t in by_task.values()]
    tasks = len(hours)
    if config["eval"]["node_jobs"]:
        gcds = cluster.request(config, "eval_step").get("gpus", config["slurm"]["node"]["gcds"])
        at_once, node_jobs, job_hours = min(tasks, gcds), steps, packed_hours(hours, gcds)
    else:
        at_once, node_jobs, job_hours = 1, steps * tasks, sum(hours) / tasks
    return {"evaluated_steps": steps, "runs": steps * tasks, "runs_per_node_job": at_once,
            "node_jobs": node_jobs, "hours_per_node_job": job_hours, "node_hours": node_jobs * job_hours,
            "unpacked_node_hours": steps * sum(hours)}
