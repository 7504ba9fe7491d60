"""The planner on Frontier facts: eval node-hours follow the packing (8 one-GCD evals per node job),
and a run longer than the scratch purge window is warned about."""

import copy
import math

from cpt.evaluate.steps import evaluated_steps
from cpt.plan import make_plan, render, warnings
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


def test_plan_warns_when_the_run_outlasts_the_scratch_purge(full_config):
    plan = make_plan(full_config)
    assert plan["schedule"]["calendar_days"] > 90
    assert any("longer than the 90-day scratch purge" in w for w in warnings(plan, full_config))
    short = copy.deepcopy(full_config)
    short["slurm"]["planner"]["purge_days"] = plan["schedule"]["calendar_days"] + 1
    assert not any("scratch purge" in w for w in warnings(plan, short))
