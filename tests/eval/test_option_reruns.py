"""Eval options are params of the jobs they change: editing one reruns exactly those evals (and the
tables drawn from them), nothing in data, training or export. Shown by dry runs over a pre-made
results tree of the whole demo DAG: every output an empty file, stamped by `snakemake --touch`,
which records each job's params as a real run does (seconds, no job runs)."""

import json
import shutil

import pytest
import yaml
from workflow_run import ROOT, link_workflow, snakemake

TASKS = [{"name": "Arith", "task": "cpt_demo_arith", "num_fewshot": 0, "metric": "acc"},
         {"name": "Count", "task": "cpt_demo_count", "num_fewshot": 2, "metric": "acc_norm"}]

CONFIG = ["--configfile", "configs/demo.yaml", "base.yaml", "overlay.yaml"]


def planned(work, *args, **overlay) -> dict[str, int]:
    """Jobs a dry run of the default target would run, per rule, with `overlay` over the demo config."""
    (work / "overlay.yaml").write_text(yaml.safe_dump(overlay))
    out = snakemake(work, "-n", *CONFIG, *args).stdout
    if "Job stats:" not in out:
        assert "Nothing to be done" in out, out[-3000:]
        return {}
    table = out[out.index("Job stats:"):].split("\n\n")[0].splitlines()[3:]
    return {line.split()[0]: int(line.split()[1]) for line in table}


@pytest.fixture(scope="module")
def work(tiny_model, tmp_path_factory):
    """The demo DAG (3 evaluated steps x 2 tasks) with every output present and its job recorded."""
    work = link_workflow(tmp_path_factory.mktemp("reruns") / "work")
    # a real config.json for the parse-time checks; a copy, as --touch stamps the base model's files too
    shutil.copytree(tiny_model, work / "model")
    (work / "base.yaml").write_text(yaml.safe_dump({"model": {"base_dir": "model"}}))
    (work / "overlay.yaml").write_text("{}")
    summary = snakemake(work, "--summary", *CONFIG).stdout
    for line in summary.splitlines()[1:]:
        path, _, rule, _, status, *_ = line.split("\t")
        if status == "missing":
            target = work / path
            if rule == "eval_export":  # a directory() output
                target.mkdir(parents=True)
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.touch()
    snakemake(work, "--touch", "--forceall", "--cores", "1", *CONFIG)  # every job, so every one is recorded
    assert planned(work) == {}
    return work


def test_one_tasks_shots_rerun_that_tasks_evals_only(work):
    count = {**TASKS[1], "num_fewshot": 3}
    assert planned(work, eval={"tasks": [TASKS[0], count]}) == {
        "eval_task": 3, "report_tables": 1, "report": 1, "total": 5}  # Count at steps 0, 150, 300


def test_an_option_of_every_eval_reruns_every_eval_and_no_export_or_training(work):
    assert planned(work, eval={"batch_size": 4}) == {
        "eval_task": 6, "report_tables": 1, "report": 1, "total": 8}


def test_operational_training_edits_rerun_no_training(work):
    # only the tables: they print the config digest, so any config edit redraws them (seconds)
    assert planned(work, train={"log_interval": 7, "resubmits": 9}) == {"report_tables": 1, "report": 1, "total": 2}


def test_an_edit_of_the_workflows_code_reruns_nothing_under_the_cluster_profiles(work):
    """Pipeline upgrades during a months-long run: as Snakemake sees one, the shell text recorded
    with each segment's output differs from the rule's. Its default triggers would run the chain
    again and re-export and re-evaluate every step; the cluster profiles' triggers run nothing."""
    records = {p: p.read_text() for p in (work / ".snakemake/metadata").iterdir()
               if json.loads(p.read_text()).get("rule") == "train_segment"}
    assert len(records) == 2   # the demo's two segments
    try:
        for path, text in records.items():
            path.write_text(json.dumps({**json.loads(text), "code": "python -m cpt.train.chain --an-older-flag"}))
        assert planned(work) == {"train_segment": 2, "eval_export": 2, "eval_task": 4, "report_tables": 1,
                                 "report": 1, "total": 10}
        for profile in ("frontier", "slurm-local"):
            triggers = yaml.safe_load((ROOT / "profiles" / profile / "config.yaml").read_text())["rerun-triggers"]
            assert "code" not in triggers and planned(work, "--rerun-triggers", *triggers) == {}
    finally:
        for path, text in records.items():
            path.write_text(text)
