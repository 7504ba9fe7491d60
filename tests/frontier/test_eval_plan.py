"""The planner on Frontier facts: eval node-hours follow the packing (a step's tasks in one node job),
and a run longer than the scratch purge window is warned about."""

import copy

import pytest

from cpt.evaluate.steps import evaluated_steps
from cpt.plan import make_plan, render, warnings
from cpt.plan.evaluation import evaluation, packed_hours
from cpt.plan.rates import eval_task_hours


def task_hours(config) -> list[float]:
    """Each task's hours on one GCD, from the cited rates: samples / (samples/s) + start-up."""
    rates = config["slurm"]["planner"]["rates"]["eval_task"]
    return [rates[t["name"]]["samples"] / rates[t["name"]]["value"] / 3600 + rates[t["name"]]["startup_minutes"] / 60
            for t in config["eval"]["tasks"]]


def test_full_run_eval_is_one_node_job_per_step(full_config):
    e = evaluation(full_config, eval_task_hours(full_config, None))
    steps = len(evaluated_steps(full_config["eval"]["every"], full_config["train"]["steps"]))
    hours = task_hours(full_config)
    assert (e["runs"], e["runs_per_node_job"], e["node_jobs"]) == (steps * 4, 4, steps)
    # 4 tasks on 8 GCDs: a step's node job lasts as long as its slowest task (HellaSwag)
    assert e["hours_per_node_job"] == pytest.approx(max(hours))
    assert max(hours) == pytest.approx(10_042 / 3.4 / 3600 + 5 / 60)
    assert e["node_hours"] == pytest.approx(steps * max(hours))
    assert e["unpacked_node_hours"] == pytest.approx(steps * sum(hours))
    assert f"{e['runs']} lm-eval runs, 4 at once per node: {steps} node jobs" in render(make_plan(full_config))


def test_more_tasks_than_gcds_queue_inside_the_job(full_config):
    config = copy.deepcopy(full_config)
    rates = config["slurm"]["planner"]["rates"]["eval_task"]
    config["eval"]["tasks"] = [{**t, "name": f"{t['name']}-{i}"} for i in range(5) for t in config["eval"]["tasks"]]
    rates.update({t["name"]: rates[t["name"].rsplit("-", 1)[0]] for t in config["eval"]["tasks"]})
    # 20 tasks on 8 GCDs: some queue behind others
    e = evaluation(config, eval_task_hours(config, None))
    hours = task_hours(config)
    assert e["runs_per_node_job"] == 8
    assert e["hours_per_node_job"] == pytest.approx(packed_hours(hours, 8)) and e["hours_per_node_job"] > max(hours)


def test_tasks_take_the_first_free_gcd_longest_first():
    assert packed_hours([3, 3, 2, 2, 2], gcds=2) == 7       # 3+2+2 | 3+2
    assert packed_hours([1, 1, 1], gcds=8) == 1
    assert packed_hours([5, 1, 1, 1, 1, 1], gcds=2) == 5    # the five short ones fill the other GCD


def test_eval_hours_have_one_source(full_config):
    """The packed node jobs and the jobs table read the same per-task hours."""
    by_task = eval_task_hours(full_config, None)
    assert [t["hours"] for t in by_task.values()] == pytest.approx(task_hours(full_config))
    assert "eval_task_hours" not in full_config["slurm"]["planner"]


def test_one_job_per_run_without_node_jobs(full_config):
    config = copy.deepcopy(full_config)
    config["eval"]["node_jobs"] = False
    e = evaluation(config, eval_task_hours(config, None))
    assert e["node_jobs"] == e["runs"] and e["node_hours"] == e["unpacked_node_hours"]


def test_plan_warns_when_the_run_outlasts_the_scratch_purge(full_config):
    plan = make_plan(full_config)
    assert plan["schedule"]["calendar_days"] > 90
    assert any("longer than the 90-day scratch purge" in w for w in warnings(plan, full_config))
    short = copy.deepcopy(full_config)
    short["slurm"]["planner"]["purge_days"] = plan["schedule"]["calendar_days"] + 1
    assert not any("scratch purge" in w for w in warnings(plan, short))
