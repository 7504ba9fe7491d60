"""A Slurm job given GPUs never runs GPU work on the CPU (cpt.devices): an eval child narrowed to one
GCD of a Frontier eval job, and the trainer, refuse with the variables they saw when torch sees no
GPU (this machine's torch is a CPU build, as a broken env on Frontier would be)."""

import sys

import pytest

from cpt import devices
from cpt.evaluate import node
from cpt.train import launch

# What an eval_step job on Frontier has (sbatch --gpus-per-node=8 -N 1): Slurm's ids 0-7.
FRONTIER_EVAL_JOB = {"PATH": "/usr/bin:/bin", "SLURM_JOB_ID": "2417705", "SLURM_JOB_GPUS": "0,1,2,3,4,5,6,7",
                     "SLURM_GPUS_ON_NODE": "8", "SLURM_GPUS_PER_NODE": "8", "ROCR_VISIBLE_DEVICES": "0,1,2,3,4,5,6,7"}


def test_guard_names_what_the_job_was_given():
    with pytest.raises(devices.NoGPUError, match=r"SLURM_GPUS_ON_NODE=8 SLURM_GPUS_PER_NODE=8 SLURM_JOB_GPUS=0,1"):
        devices.cuda_or_cpu("lm-eval", env=FRONTIER_EVAL_JOB)
    outside_slurm = {k: v for k, v in FRONTIER_EVAL_JOB.items() if k != "SLURM_JOB_ID"}
    assert devices.cuda_or_cpu("lm-eval", env=outside_slurm) == "cpu"     # a laptop with a stray variable
    assert devices.cuda_or_cpu("lm-eval", env={"SLURM_JOB_ID": "7", "CUDA_VISIBLE_DEVICES": ""}) == "cpu"


def test_an_eval_child_on_gcd_3_refuses_the_cpu(tmp_path):
    child = [sys.executable, "-c", "from cpt.evaluate.run import resolve_device; print(resolve_device('auto'))"]
    codes = node.run_all([(child, tmp_path / "task.log")], node.job_gpus(FRONTIER_EVAL_JOB, 8)[3:4],
                         env={**FRONTIER_EVAL_JOB, "PYTHONPATH": ":".join(sys.path)}, poll_seconds=0.05)
    text = (tmp_path / "task.log").read_text()
    assert codes == [1], text
    assert "NoGPUError" in text and "ROCR_VISIBLE_DEVICES=3 " in text and "SLURM_JOB_GPUS=0,1,2,3,4,5,6,7" in text


def test_the_trainer_refuses_before_joining(monkeypatch):
    for key, value in FRONTIER_EVAL_JOB.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("SLURM_STEP_GPUS", "3")
    with pytest.raises(devices.NoGPUError, match="trainer: .*SLURM_STEP_GPUS=3"):
        launch.init_distributed(launch.Ranks(0, 1, 0, "127.0.0.1", 29999))
