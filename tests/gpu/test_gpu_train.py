"""The trainer on GPUs: nccl, bf16, per-block compile, full activation checkpointing, DCP in
device memory, lm-eval on the GPU. Runs real ranks (one process per GPU) like torchrun."""

import json
import sys
from pathlib import Path

import pytest
import torch

import train_helpers as h

pytestmark = pytest.mark.gpu
ONE = {"dp_replicate": 1, "dp_shard": 1, "tp": 1}
PRODUCTION = {"compile": True, "activation_checkpointing": "full", "param_dtype": "bfloat16",
              "reduce_dtype": "float32"}
# lr 3e-3: the dim-256 model spikes at 1e-2 (fp32 eager on CPU: 4.92 -> 5.56 at step 5); at 3e-3
# the mean loss of steps 16-20 is 1.3 below that of steps 1-5 there.
STEPS = {"steps": 20, "steps_per_segment": 20, "local_batch": 8, "optimizer": {"lr": 3e-3},
         "checkpoint": {"interval": 10, "keep_last": 2, "keep_every": 100}}
# bf16 compute with fp32 masters and reduce against fp32 eager, 5 steps at lr 1e-2: the CPU
# production test sees up to ~0.3%; GPU kernels (flash attention in bf16) add their own rounding.
BF16_REL_TOL = 2e-2


def trainer(tmp, name, model_dir, manifest, nprocs=1, parallel=ONE, **cfg):
    train_dir = tmp / name
    h.import_step0(model_dir, train_dir)
    config = h.train_config(tmp / f"{name}.yaml", parallel=parallel, **{**STEPS, **cfg})
    h.run_ok(nprocs, h.trainer_argv(config, manifest, model_dir, train_dir), tmp / f"{name}-logs", timeout=600)
    return train_dir


@pytest.fixture(scope="module")
def production(tmp_path_factory, model_dir, manifest):
    tmp = tmp_path_factory.mktemp("production")
    return trainer(tmp, "run", model_dir, manifest, **PRODUCTION), tmp / "run-logs"


@pytest.fixture(scope="module")
def eager_fp32(tmp_path_factory, model_dir, manifest):
    return h.losses(trainer(tmp_path_factory.mktemp("eager"), "run", model_dir, manifest, steps=5,
                            steps_per_segment=5))


def test_production_recipe_trains_20_steps(production):
    train_dir, logs = production
    losses = h.losses(train_dir)
    assert sorted(losses) == list(range(1, 21))
    first, last = sum(losses[s] for s in range(1, 6)) / 5, sum(losses[s] for s in range(16, 21)) / 5
    assert last < first - 0.5, f"loss did not fall: first five {first:.3f}, last five {last:.3f}"
    records = [json.loads(line) for line in (train_dir / "metrics.jsonl").read_text().splitlines()]
    assert all(r["memory_peak_gb"] > 0 for r in records)
    text = h.logs(logs, tail=None)   # the check logs before step 1: 20 step lines later it is not in the tail
    assert "runs a fused SDPA kernel" in text, text[-3000:]  # the attention check ran and passed


def test_bf16_compiled_losses_track_fp32_eager(production, eager_fp32):
    losses = h.losses(production[0])
    for step, loss in eager_fp32.items():
        assert losses[step] == pytest.approx(loss, rel=BF16_REL_TOL), step


def test_dcp_save_and_load_on_gpu_are_exact(tmp_path, model_dir):
    """Model and optimizer state saved from device memory load back bit for bit."""
    h.import_step0(model_dir, tmp_path)
    config = h.train_config(tmp_path / "train.yaml", **PRODUCTION)
    worker = str(Path(__file__).with_name("dcp_worker.py"))
    h.run_ok(1, [worker, str(config), str(model_dir), str(tmp_path / "checkpoints")], tmp_path / "logs", timeout=600)
    report = json.loads((tmp_path / "dcp.json").read_text())
    assert report["tensors"] > 0 and report["mismatched"] == [], report


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs 2 GPUs (one rank each)")
def test_two_ranks_match_one(production, tmp_path, model_dir, manifest):
    two = h.losses(trainer(tmp_path, "two", model_dir, manifest, 2, {"dp_replicate": 1, "dp_shard": 2, "tp": 1},
                           local_batch=4, **PRODUCTION))
    one = h.losses(production[0])
    for step in two:
        assert two[step] == pytest.approx(one[step], rel=BF16_REL_TOL), step


def test_lm_eval_on_gpu_matches_cpu(tmp_path):
    """The demo model, imported and exported by the trainer, scores the same on the GPU (the
    pipeline's bf16) as on CPU (fp32), within the metric's standard error."""
    pytest.importorskip("lm_eval", reason="lm-eval is not installed here (bring it as a wheel)")
    from cpt.demo.base_model import save_base_model, train_tokenizer
    from cpt.evaluate.record import task_record
    from cpt.evaluate.run import evaluate
    from cpt.train.hf import export_checkpoint
    from cpt.convert.import_base import import_base

    sys.path.insert(0, str(Path(__file__).parents[1] / "eval"))
    from eval_helpers import TEXTS

    base = tmp_path / "model"
    save_base_model(base, train_tokenizer(TEXTS, vocab_size=300))
    exported = export_checkpoint(import_base(base, tmp_path / "checkpoints"), base, tmp_path / "hf")
    scores = {}
    for device, dtype in (("cuda", "bfloat16"), ("cpu", "float32")):
        results = evaluate(exported, "cpt_demo_arith", 0, 16, dtype, device, limit=None)
        scores[device] = task_record(results, "cpt_demo_arith", "acc")
    gpu, cpu = scores["cuda"], scores["cpu"]
    assert abs(gpu["value"] - cpu["value"]) <= cpu["stderr"], scores
