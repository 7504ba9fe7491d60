"""Real `snakemake -n` runs: config mistakes stop the dry run with every key named in a
short report; the demo dry run stays green and lists the pending checks (the reference
config's full DAG is built by tests/test_dag.py, through the same checks)."""

import pytest
from workflow_run import link_workflow, snakemake

pytestmark = pytest.mark.slow  # real snakemake processes (~5-10 s each)


def dry_run(tmp_path, *configfiles: str, overlay: str | None = None):
    work = link_workflow(tmp_path / "work")
    if overlay is not None:
        (work / "overlay.yaml").write_text(overlay)
        configfiles += ("overlay.yaml",)
    args = ["-n", "--quiet", "rules"] + (["--configfile", *configfiles] if configfiles else [])
    return snakemake(work, *args, check=False)


def test_reference_mistakes_are_all_named_in_a_short_report(tmp_path):
    result = dry_run(tmp_path, overlay="train: {steps: 600000, parallel: {tp: 3}}\n"
                                       "eval: {tasks: [{name: W, task: winogrand, metric: acc}]}\n")
    output = result.stdout + result.stderr
    assert result.returncode != 0
    for key in ("train.steps = 600000", "train.parallel.tp = 3", "eval.tasks[0].task = 'winogrand'"):
        assert key in output
    assert "4 config errors in config.yaml + " in output  # tp breaks two rules: TP inside a node, heads and seq_len
    assert len(output.splitlines()) < 30


def test_misspelled_top_level_key_on_the_demo_is_one_error(tmp_path):
    result = dry_run(tmp_path, "configs/demo.yaml", overlay="trian: {steps: 10}\n")
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "trian = {'steps': 10}" in output and "did you mean train?" in output
    assert len(output.splitlines()) < 15  # snakemake's own validate printed 923 lines


def test_demo_dry_run_is_green_and_says_what_is_pending(tmp_path):
    result = dry_run(tmp_path, "configs/demo.yaml")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "config check pending: model.hub:" in result.stderr
    assert "config check pending: data.sources.finemath:" in result.stderr
    assert "train_segment" in result.stdout



def test_a_job_reparsing_the_workflow_skips_the_controller_checks(tmp_path):
    """Inside a job Snakemake re-parses the workflow in `--mode remote|subprocess`: the controller
    already checked the config, so an lm-eval task mistake (the index lookup) is not re-checked."""
    work = link_workflow(tmp_path / "work")
    (work / "overlay.yaml").write_text("eval: {tasks: [{name: W, task: winogrand}]}\n")
    args = ["-n", "--configfile", "configs/demo.yaml", "overlay.yaml", "--", "report_tables"]
    assert snakemake(work, "--mode", "subprocess", *args, check=False).returncode == 0
    controller = snakemake(work, *args, check=False)
    assert controller.returncode != 0
    assert "eval.tasks[0].task = 'winogrand'" in controller.stdout + controller.stderr
