"""With publishing on, the dry run shows one publish job per selected step, fed by that
step's export, and nothing in training or evaluation waits for one."""

import re

from workflow_run import link_workflow, snakemake


def test_publish_jobs_are_leaves_of_the_dag(tmp_path):
    work = link_workflow(tmp_path / "work")
    (work / "publish.yaml").write_text("publish:\n  hf: {repo_id: me/demo-cpt, every: 150}\n"
                                       "metrics:\n  wandb: {project: demo}\n")
    dot = snakemake(work, "--dag", "--configfile", "configs/demo.yaml", "publish.yaml").stdout
    names = dict(re.findall(r'(\d+)\[label = "(\w+)', dot))
    edges = [(names[a], names[b]) for a, b in re.findall(r"(\d+) -> (\d+)", dot)]
    assert list(names.values()).count("publish_hf") == 2  # steps 150 and 300
    assert edges.count(("eval_export", "publish_hf")) == 2
    assert {b for a, b in edges if a == "publish_hf"} == {"report"}  # only the default target waits for them
