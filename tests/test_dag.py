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
