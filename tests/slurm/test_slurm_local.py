"""A real Slurm cluster on this machine (tests/slurm/cluster.py): the demo data stage with
every non-local job through sbatch, grouped as on Frontier; and where the time-limit
signal lands, which decides the training segment's `--signal` flag."""

import json
import os
import re
import subprocess
import sys
import time
import warnings
from pathlib import Path

import cluster
import pytest
from workflow_run import link_workflow, snakemake

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo_workdir(tmp_path_factory) -> Path:
    """A working dir with the workflow linked in and a freshly built demo beside it."""
    from cpt.demo.__main__ import build

    work = link_workflow(tmp_path_factory.mktemp("slurm-work"))
    build(work / "demo")
    return work


def job_logs(work: Path) -> dict[str, list[int]]:
    """Slurm job ids per rule or group, from the plugin's logs (.snakemake/slurm_logs/<rule_or_group>/.../<id>.log)."""
    found: dict[str, list[int]] = {}
    for log in (work / ".snakemake/slurm_logs").rglob("*.log"):
        name = log.relative_to(work / ".snakemake/slurm_logs").parts[0]
        found.setdefault(name, []).append(int(log.stem))
    return found


def test_demo_data_stage_through_sbatch(slurm_cluster, demo_workdir, monkeypatch):
    monkeypatch.delenv("CPT_ACCOUNT", raising=False)
    out = snakemake(demo_workdir, "data", "--profile", "profiles/slurm-local", "--configfile", "configs/demo.yaml")
    manifest = json.loads((demo_workdir / "results/demo/data/manifest.json").read_text())
    assert manifest["rows"] >= manifest["rows_needed"]

    jobs = job_logs(demo_workdir)
    # 9 tokenize jobs in groups of 2, one job per mixed shard; localrules never reach Slurm
    assert sorted(jobs) == ["group_tokenize_tokenize", "rule_manifest", "rule_mix_plan", "rule_mix_shard"], jobs
    assert len(jobs["group_tokenize_tokenize"]) == 5
    assert len(jobs["rule_mix_shard"]) == len(manifest["shards"])
    submitted = {int(i) for i in re.findall(r"has been submitted with SLURM jobid (\d+)", out.stdout + out.stderr)}
    all_ids = {i for ids in jobs.values() for i in ids}
    assert all_ids <= submitted, (all_ids, submitted)
    # slurmctld's own record of finished jobs has every one of them, completed
    jobcomp = (slurm_cluster / "jobcomp.txt").read_text()
    completed = {int(m) for m in re.findall(r"JobId=(\d+) .*JobState=COMPLETED", jobcomp)}
    assert all_ids <= completed


# Like the plugin's batch script for a training segment: `sh` running a command that srun's the ranks.
SIGNAL_JOB = """#!/bin/sh
srun -n1 bash -c 'trap "echo rank-got-USR1; exit 0" USR1; for i in $(seq 90); do sleep 1; done; echo rank-not-signalled'
echo batch-script-finished
"""


def running_segment(min_seconds: int) -> str | None:
    """The Slurm id of a training segment that has run at least `min_seconds`, if any."""
    queue = subprocess.run(["squeue", "-h", "-o", "%i|%k|%T|%M"], capture_output=True, text=True).stdout
    for line in queue.splitlines():
        job_id, comment, state, elapsed = line.split("|")
        seconds = sum(int(x) * 60 ** i for i, x in enumerate(reversed(elapsed.split(":"))))
        if "train_segment" in comment and state == "RUNNING" and seconds >= min_seconds:
            return job_id
    return None


def test_demo_trains_evaluates_and_reports_through_sbatch(slurm_cluster, demo_workdir):
    """Both training segments run as sbatch jobs with srun'd gloo ranks on the two fake nodes;
    the first gets USR1 mid-segment (as from --signal), saves, exits 0 without its marker and
    is run again, resuming where it stopped; then eval jobs and the report."""
    env_args = ["report", "--profile", "profiles/slurm-local", "--configfile", "configs/demo.yaml",
                "configs/slurm-local.yaml"]
    # The fake nodes' names (n1, n2) do not resolve; real nodes' do, so only here the ranks are
    # told where rank 0 listens (jobs inherit the submitting environment).
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}", "MASTER_ADDR": "127.0.0.1"}
    run = subprocess.Popen([sys.executable, "-m", "snakemake", *env_args], cwd=demo_workdir, env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    signalled, deadline = None, time.time() + 600
    while signalled is None and run.poll() is None and time.time() < deadline:
        signalled = running_segment(min_seconds=15)
        time.sleep(1)
    assert signalled, "no training segment ran"
    subprocess.run(["scancel", "--signal=USR1", signalled], check=True)  # to the job's steps, like --signal
    out, _ = run.communicate(timeout=max(deadline - time.time(), 1))
    assert run.returncode == 0, out[-4000:]

    run_dir = demo_workdir / "results/demo"
    # the stopped segment's rerun (its log is the last attempt's) resumed mid-segment
    log = (run_dir / "logs/train/step-00000150.log").read_text()
    resumed = [int(m) for m in re.findall(r"resumed from \S+ \(step (\d+),", log)]
    assert resumed and 0 < resumed[0] < 150, log[-3000:]
    steps = [json.loads(line)["step"] for line in (run_dir / "train/metrics.jsonl").read_text().splitlines()]
    assert steps == list(range(10, 301, 10))
    jobs = job_logs(demo_workdir)
    assert int(signalled) in jobs["rule_train_segment"] and len(jobs["rule_train_segment"]) >= 2
    assert len(jobs["rule_eval_task"]) == 6 and len(jobs["rule_eval_export"]) == 2
    assert "| 300 |" in (run_dir / "report/results.md").read_text()


def test_time_limit_signal_reaches_the_ranks_only_without_b(slurm_cluster, tmp_path):
    """--signal=USR1@<s> goes to the job's steps (the srun'd ranks) and the batch script carries
    on; --signal=B:USR1@<s> goes to the batch `sh` alone, which it kills, ranks unwarned."""
    (tmp_path / "job.sh").write_text(SIGNAL_JOB)
    for name, signal in (("steps", "USR1@58"), ("batch", "B:USR1@58")):
        subprocess.run(["sbatch", "-t", "1", f"--signal={signal}", "-o", str(tmp_path / f"{name}.out"),
                        "-J", f"signal-{name}", str(tmp_path / "job.sh")], check=True, capture_output=True)
    deadline = time.time() + 120
    while time.time() < deadline and "signal-" in subprocess.run(["squeue", "-h", "-o", "%j"],
                                                                 capture_output=True, text=True).stdout:
        time.sleep(2)
    steps, batch = (tmp_path / "steps.out").read_text(), (tmp_path / "batch.out").read_text()
    assert "rank-got-USR1" in steps and "batch-script-finished" in steps, steps
    assert "rank-got-USR1" not in batch and "batch-script-finished" not in batch, batch
