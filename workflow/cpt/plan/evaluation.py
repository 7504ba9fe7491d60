"""Evaluation on its Slurm request: what the (step, task) lm-eval runs cost in node-hours.

Frontier charges whole nodes. With eval.node_jobs, one node job per evaluated step runs its
tasks at once, one GCD each (rule eval_step), so a step costs one node for as long as its
slowest task (more tasks than GCDs queue inside the job); otherwise every (step, task) is its
own node job (rule eval_task) holding one GCD of eight.
"""

from __future__ import annotations

import math

from cpt import cluster
from cpt.evaluate.steps import evaluated_steps


def evaluation(config: dict) -> dict:
    """Eval runs, the node jobs they take, and node-hours, against one node job per run."""
    steps = len(evaluated_steps(config["eval"]["every"], config["train"]["steps"]))
    tasks = len(config["eval"]["tasks"])
    hours = config["slurm"]["planner"]["eval_task_hours"]   # the slowest task on one GCD
    if config["eval"]["node_jobs"]:
        gcds = cluster.request(config, "eval_step").get("gpus", config["slurm"]["node"]["gcds"])
        at_once = min(tasks, gcds)
        node_jobs, job_hours = steps, math.ceil(tasks / gcds) * hours
    else:
        at_once, node_jobs, job_hours = 1, steps * tasks, hours
    return {"evaluated_steps": steps, "runs": steps * tasks, "runs_per_node_job": at_once,
            "node_jobs": node_jobs, "hours_per_node_job": job_hours, "node_hours": node_jobs * job_hours,
            "unpacked_node_hours": steps * tasks * hours}
