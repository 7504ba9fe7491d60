"""The compute preflight (cpt.chain.preflight): the job the chain submits before its first job larger
than the preflight, asked for exactly as a chain job but on 2 nodes for an hour; the gate that keeps
a 64-node job back without a passing record for the training digest; the verdict's reasons; the
all-reduce bandwidth figure on real ranks (gloo, 2 processes)."""

import copy
import json
import os
import subprocess
import sys

import pytest

from cpt.chain import preflight
from cpt.chain.commands import sbatch_command, srun_command
from cpt.digest import training_digest
from cpt.rundir.paths import RunDir


def flags(command: list[str]) -> dict:
    return dict(arg.split("=", 1) for arg in command if arg.startswith("--") and "=" in arg and arg != "--wrap")


def test_the_preflight_job_is_a_chain_job_on_2_nodes_for_an_hour(full_config):
    small = preflight.preflight_config(full_config)
    assert small["train"]["parallel"] == {"dp_replicate": 1, "dp_shard": 2, "tp": 8}    # TP 8 x 2 data shards
    chain, check = flags(sbatch_command(full_config)), flags(sbatch_command(small, entry="preflight-job"))
    assert (check["--nodes"], check["--ntasks"], check["--time"], check["--partition"]) == ("2", "16", "60", "batch")
    different = {"--nodes", "--ntasks", "--time", "--partition", "--job-name"}
    same = {k: v for k, v in chain.items() if k not in different}
    assert {k: v for k, v in check.items() if k not in different} == same
    assert check["--network"] == "disable_rdzv_get" and check["--constraint"] == "nvme"
    assert "-m cpt.chain preflight-job --train-dir" in sbatch_command(small, entry="preflight-job")[-1]
    launch = srun_command(small, 20, ["-m", "cpt.train.allreduce", "--out", "x.json"])[-1]
    same = srun_command(full_config, 20)[-1].replace("--nodes=64 --ntasks=512", "--nodes=2 --ntasks=16")
    assert launch == same.split(" -m cpt.train ")[0] + " -m cpt.train.allreduce --out x.json"   # staged env, srun


def test_no_larger_chain_job_without_a_passing_record_for_the_digest(full_config, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    assert preflight.needed(full_config) and not preflight.passing(full_config)
    skip = copy.deepcopy(full_config)
    skip["slurm"]["preflight"]["skip"] = True
    one_node = copy.deepcopy(full_config)
    one_node["train"]["parallel"] = {"dp_replicate": 1, "dp_shard": 2, "tp": 1}
    assert not preflight.needed(skip) and not preflight.needed(one_node)    # the named key; a job no larger
    path = RunDir.of(full_config).preflight_record
    path.parent.mkdir(parents=True)
    for digest, passed, expected in (("0" * 16, True, False), (training_digest(full_config), False, False),
                                     (training_digest(full_config), True, True)):
        path.write_text(json.dumps({"training_digest": digest, "passed": passed}))
        assert preflight.passing(full_config) is expected, (digest, passed)


def test_the_verdict_names_what_failed(full_config):
    small = preflight.preflight_config(full_config)
    comm = {"correct": True, "busbw_gbps": 80.0}
    steps = [{"step": s, "step_time_s": 20.0 + (s == 1) * 60, "memory_peak_gb": 41.0} for s in range(1, 21)]
    ok = preflight.verdict(small, "d" * 16, comm, steps, {"status": "ok", "value": 0.5})
    assert ok["passed"] and ok["train"]["step_time_s"] == 20.0 and ok["train"]["memory_peak_gb"] == 41.0
    over = [{**r, "memory_peak_gb": 63.0} for r in steps[:12]]
    bad = preflight.verdict(small, "d" * 16, {"correct": False}, over, {"status": "failed", "error": "OOM"})
    assert not bad["passed"] and len(bad["reasons"]) == 4, bad["reasons"]
    assert "all-reduce" in bad["reasons"][0] and "before step 20 (logged up to 12)" in bad["reasons"][1]
    assert "peak memory 63.0 GB per GCD is over the 57.6 GB" in bad["reasons"][2] and "OOM" in bad["reasons"][3]


def test_allreduce_bandwidth_on_two_real_ranks(tmp_path):
    out = tmp_path / "allreduce.json"
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                           "-m", "cpt.train.allreduce", "--out", str(out), "--mb", "1", "--iterations", "3"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    figure = json.loads(out.read_text())
    assert figure["correct"] and figure["ranks"] == 2 and figure["bytes"] == 2**20 and figure["busbw_gbps"] > 0
    assert "gloo" in figure["stack"]


def test_the_controller_submits_the_preflight_and_stops_on_its_failure(full_config, monkeypatch, tmp_path):
    """sbatch and squeue stand in (the job "ends" at once, without a record): the chain gets no 64-node job;
    with a passing record for the digest nothing is submitted."""
    from cpt.chain.commands import ChainError

    monkeypatch.chdir(tmp_path)
    bin_dir, calls = tmp_path / "bin", tmp_path / "sbatch-calls"
    bin_dir.mkdir()
    (bin_dir / "sbatch").write_text(f'#!/bin/sh\necho "$@" >> {calls}\necho 4242\n')
    (bin_dir / "squeue").write_text('#!/bin/sh\necho "slurm_load_jobs error: Invalid job id specified" >&2\nexit 1\n')
    for name in ("sbatch", "squeue"):
        (bin_dir / name).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    prefetched = RunDir.of(full_config).prefetched(full_config["eval"]["tasks"][0]["name"])
    prefetched.parent.mkdir(parents=True)
    prefetched.write_text("{}")                      # eval_prefetch ran: the task's data is in the HF cache
    stale = RunDir.of(full_config).preflight_record
    stale.parent.mkdir(parents=True, exist_ok=True)
    stale.write_text(json.dumps({"training_digest": training_digest(full_config), "passed": False,
                                 "reasons": ["an older job's verdict"]}))
    with pytest.raises(ChainError, match=r"preflight \(job 4242\) failed: it wrote no record\..*slurm.preflight.skip"):
        preflight.ensure(full_config, poll_seconds=0.01)
    (call,) = calls.read_text().splitlines()
    assert "--nodes=2 " in call and "cpt.chain preflight-job" in call
    written = json.loads((RunDir.of(full_config).preflight / "config.json").read_text())
    assert written["training_digest"] == training_digest(full_config)    # the run's digest, not the small config's
    RunDir.of(full_config).preflight_record.write_text(json.dumps({"training_digest": training_digest(full_config),
                                                                   "passed": True}))
    preflight.ensure(full_config, poll_seconds=0.01)
    assert len(calls.read_text().splitlines()) == 1
