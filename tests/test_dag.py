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
    assert labels.count("mix_shard") == 2 and labels.count("report") == 1   # 3 mixed shards in node jobs of 2
    assert labels.count("tokenize") == 6                                    # each source's 1-2 shards: one job


def job_counts(stdout: str) -> dict[str, int]:
    """The dry run's "Job stats" table: rule -> jobs."""
    table = stdout[stdout.index("Job stats:"):].split("total")[0]
    return {rule: int(count) for rule, count in re.findall(r"^(\w+)\s+(\d+)$", table, re.MULTILINE)}


def test_every_stage_target_runs_its_cleanup_and_tokenize_holds_for_every_download(tmp_path):
    """`snakemake data` alone used to skip the cleanup rules (59 TB against the 50 TB quota): every stage
    target now asks for them, and the mix waits for the raw cleanup, as the plan's storage timeline has it."""
    work = link_workflow(tmp_path / "work")
    data = job_counts(snakemake(work, "-n", "data").stdout)
    assert data["cleanup_raw"] == 6 and data["cleanup_tokenized"] == 1
    assert data["tokenize"] == 30 and data["mix_shard"] == 12     # node jobs of 56 shards (slurm.node.cores)
    dot = snakemake(work, "data", "--dag").stdout
    nodes = re.findall(r'(\d+)\[label = "(\w+)', dot)
    (mix_plan,) = [node for node, label in nodes if label == "mix_plan"]
    cleaned = [node for node, label in nodes if label == "cleanup_raw"]
    assert len(cleaned) == 6 and all(f"{node} -> {mix_plan}" in dot for node in cleaned)
    # tokenize holds until every download is done (the plan's purge order): 6 x 30 edges
    downloads = [node for node, label in nodes if label == "download_source"]
    tokenize = [node for node, label in nodes if label == "tokenize"]
    assert len(downloads) == 6 and all(f"{d} -> {t}" in dot for d in downloads for t in tokenize)
    train = job_counts(snakemake(work, "-n", "train").stdout)
    assert train["cleanup_raw"] == 6 and train["cleanup_tokenized"] == 1


def test_reference_sweep_dry_run_lists_the_chosen_layouts(tmp_path):
    """`snakemake sweep -n` at reference: the 4 fastest modelled layouts that fit and the configured one."""
    out = snakemake(link_workflow(tmp_path / "work"), "sweep", "-n", "-q", "rules").stdout
    counts = dict(re.findall(r"^(\w+)\s+(\d+)$", out, re.M))
    assert counts["sweep_layout"] == "5" and counts["sweep_table"] == "1" and counts["train_import"] == "1"
    assert "train_segment" not in counts  # the sweep needs the mix and step 0, not a trained segment
