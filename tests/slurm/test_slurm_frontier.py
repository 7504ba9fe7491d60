"""profiles/frontier with the real snakemake and Slurm plugin: the sbatch lines it would
submit for the full-scale config (fake sbatch records them; training jobs are submitted by
the chain's localrule), the srun line inside the training job, policy errors before
submission, and the bare profile name after setup."""

import json
import os
import subprocess
import sys
from pathlib import Path

from slurm_helpers import FULL_RUN, sbatch_calls, touch
from workflow_run import ROOT, snakemake

# The profile deploys conda envs; conda cannot be installed on the test machines, so a method
# no rule uses (env-modules) stands in for it.
NO_CONDA = ["--sdm", "env-modules"]
PROFILE = ["--profile", "profiles/frontier", *NO_CONDA, "--latency-wait", "0", "--retries", "0",
           "--slurm-init-seconds-before-status-checks", "1"]
SEGMENT_1 = f"{FULL_RUN}/train/segments/step-00003500.json"
TRAIN_INPUTS = (f"{FULL_RUN}/data/manifest.json", f"{FULL_RUN}/train/checkpoints/step-00000000/complete.json",
                "models/Llama-3.1-8B/config.json", "models/Llama-3.1-8B/tokenizer.json")


def flags(call: list[str]) -> str:
    """The sbatch options, without the command the job runs (--wrap=...)."""
    return " ".join(arg for arg in call if not arg.startswith("--wrap="))


def test_training_segment_sbatch(full_workdir, fake_slurm, monkeypatch, full_config):
    """First the compute preflight (cpt.chain.preflight: the chain's request on 2 nodes for an hour);
    with its passing record for the training digest, the 64-node chain job."""
    from cpt.digest import training_digest

    monkeypatch.setenv("CPT_ACCOUNT", "abc123")
    touch(full_workdir, *TRAIN_INPUTS, f"{FULL_RUN}/eval/prefetch/MMLU.json")
    result = snakemake(full_workdir, *PROFILE, "--allowed-rules", "train_segment", "--", SEGMENT_1, check=False)
    (check,) = sbatch_calls(fake_slurm)
    assert "--nodes=2" in check and "--time=60" in check and "--network=disable_rdzv_get" in check, check
    assert "cpt.chain preflight-job" in check[-1] and result.returncode != 0   # the fake sbatch fails it
    (full_workdir / f"{FULL_RUN}/train/preflight.json").write_text(
        json.dumps({"training_digest": training_digest(full_config), "passed": True}))
    result = snakemake(full_workdir, *PROFILE, "--allowed-rules", "train_segment", "--", SEGMENT_1, check=False)
    calls = sbatch_calls(fake_slurm)[1:]
    assert calls, result.stderr[-3000:]
    sbatch = flags(calls[0])
    for flag in ("--account=abc123", "--partition=extended", "--time=1440", "--nodes=64", "--ntasks=512",
                 "--ntasks-per-node=8", "--cpus-per-task=7", "--signal=USR1@600", "--network=disable_rdzv_get",
                 "--constraint=nvme"):
        assert f" {flag} " in f" {sbatch} ", f"{flag} missing from: sbatch {sbatch}"
    assert "--mem" not in sbatch and "--ntasks-per-gpu" not in sbatch and "--gpus" not in sbatch
    assert "-m cpt.chain job --train-dir" in calls[0][-1]
    segment_log = full_workdir / FULL_RUN / "logs/train/step-00003500.log"
    assert "sbatch of the training chain failed" in segment_log.read_text()


def test_training_segment_srun_line(full_config):
    """Inside the allocation the chain job stages the packed env to NVMe, then starts its 512 ranks
    itself: 8 per node, one GCD each, running the staged python."""
    from cpt.chain.commands import srun_command

    command = srun_command(full_config, 3500)
    assert command[:2] == ["bash", "-c"]
    stage = 'stage-env.sh "$PROJWORK/$CPT_ACCOUNT/cpt/cpt-train.tar.gz" "/mnt/bb/$USER/cpt-train" && '
    srun = ("srun --nodes=64 --ntasks=512 --ntasks-per-node=8 --cpus-per-task=7 --gpus-per-task=1"
            ' --gpu-bind=closest --kill-on-bad-exit=1 "/mnt/bb/$USER/cpt-train/bin/python" -m cpt.train ')
    assert stage + srun in command[2]
    assert "--until-step 3500" in command[2]


def test_tokenize_jobs_are_whole_node_jobs_of_56_shards_never_grouped(full_workdir, full_config, fake_slurm,
                                                                    monkeypatch):
    """Plugin 2.8.0 runs a Snakemake group's members one after another (--jobs 1 inside), so the rule
    itself takes 56 shards and runs them at once: one submission per group, 56 CPUs for one task."""
    monkeypatch.delenv("CPT_ACCOUNT", raising=False)
    sources = f"{FULL_RUN}/data/sources"
    downloads = [f"{sources}/{name}.download.json" for name in full_config["data"]["sources"]]  # tokenize holds for all
    touch(full_workdir, f"{sources}/dclm.txt", f"{sources}/dclm.txt.json", *downloads, *TRAIN_INPUTS[2:])
    targets = [f"{FULL_RUN}/data/tokenized/dclm/group-{group:03d}.json" for group in range(3)]
    result = snakemake(full_workdir, *PROFILE, "--allowed-rules", "tokenize", "--", *targets, check=False)
    calls = sbatch_calls(fake_slurm)
    assert len(calls) == 3, result.stderr[-3000:]
    for call in calls:
        sbatch = flags(call)
        assert " -p batch -t 120 " in sbatch and "--ntasks=1" in sbatch and "--cpus-per-task=56" in sbatch
        assert "group" not in sbatch and "--mem" not in sbatch  # whole nodes: no --mem cap


def test_request_over_the_queue_policy_stops_before_submission(full_workdir, fake_slurm, tmp_path):
    (full_workdir / "big.yaml").write_text("train: {parallel: {dp_replicate: 4}}\n")   # 128 nodes on extended
    result = snakemake(full_workdir, *PROFILE, "--configfile", "config.yaml", "big.yaml", "--", "plan",
                       check=False)
    assert result.returncode != 0
    assert "128 nodes exceed partition 'extended'" in result.stderr + result.stdout
    assert not sbatch_calls(fake_slurm)


def test_bare_profile_name_after_make_frontier_profile(tmp_path):
    """`make frontier-profile` links ~/.config/snakemake/frontier to profiles/frontier."""
    env = dict(os.environ, XDG_CONFIG_HOME=str(tmp_path / "xdg"))
    subprocess.run(["make", "-s", "frontier-profile"], cwd=ROOT, env=env, check=True)
    assert (tmp_path / "xdg/snakemake/frontier").resolve() == ROOT / "profiles/frontier"
    result = subprocess.run([sys.executable, "-m", "snakemake", "--profile", "frontier", *NO_CONDA, "-n", "plan"],
                            cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Using profile frontier" in result.stderr


def test_job_env_acts_only_inside_slurm_jobs():
    """HF offline and a node-local MIOpen cache in jobs; the login node keeps hub access."""
    hook = ROOT / "profiles/frontier/job-env.sh"
    show = "echo ${HF_HUB_OFFLINE:-online} ${MIOPEN_USER_DB_PATH:-none}"
    env = {"PATH": os.environ["PATH"], "BASH_ENV": str(hook)}
    login = subprocess.run(["bash", "-c", show], env=env, capture_output=True, text=True).stdout.split()
    job = subprocess.run(["bash", "-c", show], env={**env, "SLURM_JOB_ID": "42"},
                         capture_output=True, text=True).stdout.split()
    assert login == ["online", "none"]
    assert job == ["1", "/tmp/miopen-42"]
    Path("/tmp/miopen-42").rmdir()


def test_eval_is_one_node_job_per_step_with_all_its_tasks(full_workdir, fake_slurm, monkeypatch):
    """3 steps x 4 tasks: 3 node jobs (8 GCDs, 56 cores, no --mem), each starting the 4 tasks at once."""
    monkeypatch.delenv("CPT_ACCOUNT", raising=False)
    tasks = ("MMLU", "ARC-C", "Winogrande", "HellaSwag")
    touch(full_workdir, *TRAIN_INPUTS[2:], *(f"{FULL_RUN}/eval/prefetch/{task}.json" for task in tasks))
    for step in (3500, 7000):
        (full_workdir / f"{FULL_RUN}/eval/models/step-{step:08d}").mkdir(parents=True)
    targets = [f"{FULL_RUN}/eval/results/step-{step:08d}/{task}.json" for step in (0, 3500, 7000) for task in tasks]
    dry = snakemake(full_workdir, "-n", "-p", "--profile", "profiles/frontier", *NO_CONDA, "--", *targets).stdout
    assert dry.count("python -m cpt.evaluate.node --gcds 8 --tasks") == 3, dry[-3000:]
    snakemake(full_workdir, *PROFILE, "--allowed-rules", "eval_step", "--", *targets, check=False)
    calls = [flags(call) for call in sbatch_calls(fake_slurm)]
    assert len(calls) == 3, calls
    for sbatch in calls:
        assert " -p batch -t 120 " in sbatch and "--gpus=8" in sbatch and "--cpus-per-task=56" in sbatch, sbatch
        assert "--mem" not in sbatch and "--ntasks-per-gpu" not in sbatch


def test_source_download_is_a_dtn_job_and_the_listing_waits_for_it(full_workdir, fake_slurm, monkeypatch):
    monkeypatch.delenv("CPT_ACCOUNT", raising=False)
    monkeypatch.delenv("PROJWORK", raising=False)
    monkeypatch.delenv("SNAKEMAKE_CONDA_PREFIX", raising=False)
    listing = f"{FULL_RUN}/data/sources/dclm.txt"
    dry = snakemake(full_workdir, "-n", "--profile", "profiles/frontier", *NO_CONDA, "--", listing)
    out = dry.stdout + dry.stderr
    assert "slurm_cluster=dtn" in out and "input: results/llama31-8b-cpt/data/sources/dclm.download.json" in out
    snakemake(full_workdir, *PROFILE, "--", f"{FULL_RUN}/data/sources/dclm.download.json", check=False)
    (sbatch,) = [flags(call) for call in sbatch_calls(fake_slurm)]
    assert " -p batch --clusters dtn -t 1440 " in sbatch and "--gpus" not in sbatch, sbatch
    assert not (full_workdir / "$PROJWORK").exists()   # the profile names no variable a run would create literally
