"""The planner's evaluation node-hours follow the packing: one node-job per 8 one-GCD evals."""

import copy
import math

from cpt.evaluate.steps import evaluated_steps
from cpt.plan import make_plan, render
from cpt.plan.evaluation import evaluation


def test_full_run_eval_node_hours_are_packed(full_config):
    e = evaluation(full_config)
    jobs = len(evaluated_steps(full_config["eval"]["every"], full_config["train"]["steps"])) * 4
    hours = full_config["slurm"]["planner"]["eval_task_hours"]
    assert (e["jobs"], e["jobs_per_node"]) == (jobs, 8)
    assert e["node_jobs"] == math.ceil(jobs / 8) and e["node_hours"] == math.ceil(jobs / 8) * hours
    assert e["unpacked_node_hours"] == jobs * hours
    assert f"{e['jobs']} lm-eval jobs, 8 per node: {e['node_jobs']} node-jobs" in render(make_plan(full_config))


def test_evals_asking_two_gcds_pack_four_per_node(full_config):
    config = copy.deepcopy(full_config)
    config["slurm"]["resources"]["eval_task"]["gpus"] = 2
    e = evaluation(config)
    assert e["jobs_per_node"] == 4 and e["node_jobs"] == math.ceil(e["jobs"] / 4)
