"""Evaluation on its Slurm request: lm-eval jobs of one GCD each, packed onto whole nodes.

Frontier charges whole nodes, so what a run's evaluation costs is the node-jobs its
(step, task) jobs fill, not one node per job: the frontier profile groups
`slurm.node.gcds / slurm.resources.eval_task.gpus` of them per node job (group `eval`).
"""

from __future__ import annotations

import math

from cpt import cluster
from cpt.evaluate.steps import evaluated_steps

EVAL_RULE = "eval_task"


def evals_per_node(config: dict) -> int:
    """How many eval jobs share one node: its GCDs over the GCDs one eval asks for."""
    gpus = cluster.request(config, EVAL_RULE).get("gpus", config["slurm"]["node"]["gcds"])
    return max(1, config["slurm"]["node"]["gcds"] // gpus)


def evaluation(config: dict) -> dict:
    """Eval jobs, the node-jobs they pack into, and node-hours packed vs one node per job."""
    steps = evaluated_steps(config["eval"]["every"], config["train"]["steps"])
    jobs = len(steps) * len(config["eval"]["tasks"])
    per_node = evals_per_node(config)
    hours = config["slurm"]["planner"]["eval_task_hours"]   # a node-job lasts as long as its slowest eval
    node_jobs = math.ceil(jobs / per_node)
    return {"evaluated_steps": len(steps), "jobs": jobs, "jobs_per_node": per_node, "node_jobs": node_jobs,
            "hours_per_node_job": hours, "node_hours": node_jobs * hours, "unpacked_node_hours": jobs * hours}
