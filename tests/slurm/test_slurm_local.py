"""A real Slurm cluster on this machine (tests/slurm/cluster.py): the demo data stage with
every non-local job through sbatch, as node jobs of 2 shards at once (as on Frontier, of 56); the demo's training chain
finishing with its controller dead, then evals and report; and where the time-limit
signal lands, which decides the training jobs' `--signal` flag."""

import csv
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from workflow_run import link_workflow, snakemake

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo_workdir(tmp_path_factory, demo_dir) -> Path:
    """A working dir with the workflow linked in and a copy of the session's demo beside it."""
    work = link_workflow(tmp_path_factory.mktemp("slurm-work"))
    shutil.copytree(demo_dir, work / "demo")
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
    # node jobs of 2 shards (configs/demo.yaml slurm.node.cores: 2), each its own submission (never a
    # Snakemake group: plugin 2.8.0 runs group members one after another); the mix plan and the manifest
    # are seconds of work on the login node, like every localrule never a Slurm job
    assert sorted(jobs) == ["rule_mix_shard", "rule_tokenize"], jobs
    assert len(jobs["rule_tokenize"]) == 6                   # one per source: 1 or 2 shards each
    assert len(jobs["rule_mix_shard"]) == 2                  # 3 mixed shards: 2 + 1
    data = demo_workdir / "results/demo/data"
    records = sorted(data.glob("tokenized/*/group-*.json")) + sorted(data.glob("mixed/group-*.json"))
    pairs = [json.loads(p.read_text())["shards"] for p in records]
    pairs = [shards for shards in pairs if len(shards) == 2]
    assert len(pairs) == 4                                    # dclm, fineweb_edu, stack_v2; mixed 0-1
    for a, b in pairs:                                        # each job's two shards ran at the same time
        assert max(a["started"], b["started"]) < min(a["finished"], b["finished"]), (a, b)
    submitted = {int(i) for i in re.findall(r"has been submitted with SLURM jobid (\d+)", out.stdout + out.stderr)}
    all_ids = {i for ids in jobs.values() for i in ids}
    assert all_ids <= submitted, (all_ids, submitted)
    # slurmctld's own record of finished jobs has every one of them, completed
    jobcomp = (slurm_cluster / "jobcomp.txt").read_text()
    completed = {int(m) for m in re.findall(r"JobId=(\d+) .*JobState=COMPLETED", jobcomp)}
    assert all_ids <= completed



def test_demo_sweep_measures_its_layouts_through_sbatch(slurm_cluster, demo_workdir):
    """`snakemake sweep`: the 2 fastest modelled layouts of the demo's 2 ranks and the configured one,
    each a 2-node job of gloo ranks started by srun; the table holds what they measured."""
    args = ["sweep", "--profile", "profiles/slurm-local", "--configfile", "configs/demo.yaml",
            "configs/slurm-local.yaml"]
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}", "MASTER_ADDR": "127.0.0.1"}
    out = subprocess.run([sys.executable, "-m", "snakemake", *args], cwd=demo_workdir, env=env, capture_output=True,
                         text=True)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    sweep_dir = demo_workdir / "results/demo/sweep"
    rows = list(csv.DictReader((sweep_dir / "table.csv").open()))
    assert len(rows) == 3 and [r["configured"] for r in rows].count("True") == 1
    assert len({(r["dp_replicate"], r["micro_batch"], r["activation_checkpointing"]) for r in rows}) == 3
    for r in rows:
        assert float(r["seconds_per_step"]) > 0 and float(r["memory_peak_gb"]) > 0, r
        record = json.loads((sweep_dir / "layouts" / f"{r['layout']}.json").read_text())
        assert record["world_size"] == 2 and len(record["step_times_s"]) == 3
    assert len(job_logs(demo_workdir)["rule_sweep_layout"]) == 3
    assert (sweep_dir / "plot.png").stat().st_size > 0 and "(configured)" in (sweep_dir / "table.md").read_text()
    assert not list((demo_workdir / "results/demo/sweep").rglob("step-*"))  # no checkpoint kept


# Like the plugin's batch script for a training segment: `sh` running a command that srun's the ranks.
SIGNAL_JOB = """#!/bin/sh
srun -n1 bash -c 'trap "echo rank-got-USR1; exit 0" USR1; for i in $(seq 90); do sleep 1; done; echo rank-not-signalled'
echo batch-script-finished
"""


def chain_jobs(run: str, state: str = "all") -> list[str]:
    """Slurm ids of the run's training chain jobs in squeue (optionally only those in `state`)."""
    out = subprocess.run(["squeue", "-h", "-n", f"cpt-train-{run}", "-t", state, "-o", "%i"], capture_output=True,
                         text=True)
    return out.stdout.split()


def wait_for(condition, what: str, timeout: float = 600) -> None:
    deadline = time.time() + timeout
    while not condition():
        assert time.time() < deadline, f"timed out waiting for {what}"
        time.sleep(1)


def test_demo_chain_trains_with_the_controller_dead_then_catches_up(slurm_cluster, demo_workdir):
    """The controller dies (its whole session, as in a login-node reboot) during segment 1 and
    stays dead: the chain's own jobs train both segments, one of them stopped by USR1 (as from
    --signal) mid-segment, which flushes its metrics and is continued by the queued successor.
    The controller then returns: it submits no training job, runs the evals and the report."""
    env_args = ["report", "--profile", "profiles/slurm-local", "--configfile", "configs/demo.yaml",
                "configs/slurm-local.yaml"]
    # The fake nodes' names (n1, n2) do not resolve; real nodes' do, so only here the ranks are
    # told where rank 0 listens (jobs inherit the submitting environment).
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}", "MASTER_ADDR": "127.0.0.1"}
    run_dir = demo_workdir / "results/demo"
    controller = subprocess.Popen([sys.executable, "-m", "snakemake", *env_args], cwd=demo_workdir, env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    wait_for(lambda: chain_jobs("demo", "RUNNING") and (run_dir / "train/metrics.jsonl").exists(), "segment 1")
    os.killpg(controller.pid, signal.SIGKILL)
    controller.communicate()
    signalled = chain_jobs("demo", "RUNNING")[0]
    subprocess.run(["scancel", "--signal=USR1", signalled], check=True)  # to the job's steps, like --signal
    # (squeue -t all also lists ended jobs until slurmctld purges them, MinJobAge: 300 s by default)
    wait_for(lambda: (run_dir / "train/checkpoints/step-00000300/complete.json").exists()
             and not chain_jobs("demo", "PENDING,RUNNING,CONFIGURING,COMPLETING"),
             "the chain to finish with no controller")
    chain_logs = {p.stem: p.read_text() for p in (run_dir / "train/jobs").glob("*.log")}
    assert "continuation: stopped at step" in chain_logs[signalled], chain_logs[signalled][-3000:]
    stopped = int(re.search(r"continuation: stopped at step (\d+)", chain_logs[signalled]).group(1))
    steps = [json.loads(line)["step"] for line in (run_dir / "train/metrics.jsonl").read_text().splitlines()]
    assert sorted(set(range(10, 301, 10)) | {stopped}) == steps  # the stop flushed the steps since the last record

    snakemake(demo_workdir, "--unlock", *env_args[1:])
    out = snakemake(demo_workdir, *env_args)
    assert sorted(p.stem for p in (run_dir / "train/jobs").glob("*.log")) == sorted(chain_logs)  # no new training job
    assert "submitted training chain job" not in (run_dir / "logs/train/step-00000300.log").read_text()
    jobs = job_logs(demo_workdir)
    assert "rule_train_segment" not in jobs  # a localrule: never a Slurm job of the plugin
    assert len(jobs["rule_eval_task"]) == 6 and len(jobs["rule_eval_export"]) == 2, out.stdout[-2000:]
    assert "| 300 |" in (run_dir / "report/results.md").read_text()


def test_time_limit_signal_reaches_the_ranks_only_without_b(slurm_cluster, tmp_path):
    """--signal=USR1@<s> goes to the job's steps (the srun'd ranks) and the batch script carries
    on; --signal=B:USR1@<s> goes to the batch `sh` alone, which it kills, ranks unwarned."""
    (tmp_path / "job.sh").write_text(SIGNAL_JOB)
    for name, warning in (("steps", "USR1@58"), ("batch", "B:USR1@58")):
        subprocess.run(["sbatch", "-t", "1", f"--signal={warning}", "-o", str(tmp_path / f"{name}.out"),
                        "-J", f"signal-{name}", str(tmp_path / "job.sh")], check=True, capture_output=True)
    deadline = time.time() + 120
    while time.time() < deadline and "signal-" in subprocess.run(["squeue", "-h", "-o", "%j"],
                                                                 capture_output=True, text=True).stdout:
        time.sleep(2)
    steps, batch = (tmp_path / "steps.out").read_text(), (tmp_path / "batch.out").read_text()
    assert "rank-got-USR1" in steps and "batch-script-finished" in steps, steps
    assert "rank-got-USR1" not in batch and "batch-script-finished" not in batch, batch
