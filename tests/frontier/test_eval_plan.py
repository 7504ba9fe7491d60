"""The planner on Frontier facts: eval node-hours follow the packing (a step's tasks in one node job),
and a run longer than the scratch purge window is warned about."""

import copy

from cpt.evaluate.steps import evaluated_steps
from cpt.plan import make_plan, render, warnings
from cpt.plan.evaluation import evaluation


def test_full_run_eval_is_one_node_job_per_step(full_config):
    e = evaluation(full_config)
    steps = len(evaluated_steps(full_config["eval"]["every"], full_config["train"]["steps"]))
    hours = full_config["slurm"]["planner"]["eval_task_hours"]
    assert (e["runs"], e["runs_per_node_job"], e["node_jobs"]) == (steps * 4, 4, steps)
    assert e["node_hours"] == steps * hours and e["unpacked_node_hours"] == 4 * steps * hours
    assert f"{e['runs']} lm-eval runs, 4 at once per node: {steps} node jobs" in render(make_plan(full_config))


def test_more_tasks_than_gcds_queue_inside_the_job(full_config):
    config = copy.deepcopy(full_config)
    config["eval"]["tasks"] = config["eval"]["tasks"] * 3   # 12 tasks on 8 GCDs: two rounds
    e = evaluation(config)
    assert e["runs_per_node_job"] == 8 and e["hours_per_node_job"] == 2 * config["slurm"]["planner"]["eval_task_hours"]


def test_one_job_per_run_without_node_jobs(full_config):
    config = copy.deepcopy(full_config)
    config["eval"]["node_jobs"] = False
    e = evaluation(config)
    assert e["node_jobs"] == e["runs"] and e["node_hours"] == e["unpacked_node_hours"]


def test_plan_warns_when_the_run_outlasts_the_scratch_purge(full_config):
    plan = make_plan(full_config)
    assert plan["schedule"]["calendar_days"] > 90
    assert any("longer than the 90-day scratch purge" in w for w in warnings(plan, full_config))
    short = copy.deepcopy(full_config)
    short["slurm"]["planner"]["purge_days"] = plan["schedule"]["calendar_days"] + 1
    assert not any("scratch purge" in w for w in warnings(plan, short))
