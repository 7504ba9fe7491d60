"""The DAG renders (--rulegraph, --dag) without running anything, at full scale and for the demo."""

import re

from workflow_run import link_workflow, snakemake


def test_full_scale_rulegraph(tmp_path):
    dot = snakemake(link_workflow(tmp_path / "work"), "--rulegraph").stdout
    assert dot.lstrip().startswith("digraph")
    rules = set(re.findall(r'label = "(\w+)"', dot))
    assert {"tokenize", "mix_plan", "mix_shard", "manifest", "train_import", "train_segment", "eval_export",
            "eval_step", "report_tables", "report"} <= rules   # eval_step: config.yaml eval.node_jobs
    assert not (tmp_path / "work/results").exists()


def test_demo_dag_lists_every_job(tmp_path):
    dot = snakemake(link_workflow(tmp_path / "work"), "--dag", "--configfile", "configs/demo.yaml").stdout
    labels = re.findall(r'label = "(\w+)', dot)
    assert labels.count("train_segment") == 2  # 300 steps in segments of 150
    assert labels.count("mix_shard") == 3 and labels.count("report") == 1


def test_reference_sweep_dry_run_lists_the_chosen_layouts(tmp_path):
    """`snakemake sweep -n` at reference: the 4 fastest modelled layouts that fit and the configured one."""
    out = snakemake(link_workflow(tmp_path / "work"), "sweep", "-n", "-q", "rules").stdout
    counts = dict(re.findall(r"^(\w+)\s+(\d+)$", out, re.M))
    assert counts["sweep_layout"] == "5" and counts["sweep_table"] == "1" and counts["train_import"] == "1"
    assert "train_segment" not in counts  # the sweep needs the mix and step 0, not a trained segment
