"""Micro-batches (gradient accumulation) and the chunked loss on real gloo ranks: the same loss
and gradients as the one-pass, one-chunk step, exact resume mid-run."""

import pytest
import torch

import train_helpers as h
from cpt.train import checkpoint
from cpt.train.config import TrainConfig

TP2 = {"dp_replicate": 1, "dp_shard": 2, "tp": 2}
DP2 = {"dp_replicate": 1, "dp_shard": 2, "tp": 1}


def test_micro_batches_and_loss_chunks_give_the_one_pass_loss_and_gradients(tmp_path, model_dir):
    """TP 2 (the vocabulary-parallel loss on sequence-sharded rows); chunks of 32 tokens are the
    trainer's former one row per chunk, 20 split rows (10 tokens per rank), 48 span two."""
    h.import_step0(model_dir, tmp_path)
    config = h.train_config(tmp_path / "tp.yaml", parallel=TP2, local_batch=4)
    out = tmp_path / "grads.pt"
    worker = str(h.Path(__file__).with_name("micro_worker.py"))
    step0 = checkpoint.step_dir(tmp_path / "checkpoints", 0)
    h.run_ok(4, [worker, str(config), str(model_dir), str(step0), str(out)], tmp_path / "logs")
    variants = torch.load(out)
    one_pass = variants.pop((4, 10**9))
    assert one_pass["loss"] > 1  # a real loss (log 128 = 4.85 at random init), not an empty sum
    assert len(variants) == 5
    for (micro, chunk), got in variants.items():
        assert got.keys() == one_pass.keys()
        for name, want in one_pass.items():
            torch.testing.assert_close(got[name], want, atol=1e-6, rtol=1e-5,
                                       msg=f"micro_batch={micro}, loss_chunk_tokens={chunk}: {name}")


def test_resume_mid_run_with_micro_batches_is_exact(tmp_path, model_dir, manifest):
    def run(name, until=None, **cfg):
        train_dir = tmp_path / name
        if not checkpoint.complete_steps(train_dir / "checkpoints"):
            h.import_step0(model_dir, train_dir)
        config = h.train_config(tmp_path / f"{name}.yaml", parallel=DP2, local_batch=2, **cfg)
        h.run_ok(2, h.trainer_argv(config, manifest, model_dir, train_dir, until), tmp_path / f"{name}-logs")
        return h.losses(train_dir)

    straight = run("straight", micro_batch=1)
    run("resumed", until=3, micro_batch=1)
    resumed = run("resumed", micro_batch=1)
    assert len(straight) == 6 and resumed == straight  # bitwise


def test_micro_batch_must_divide_local_batch():
    assert TrainConfig.from_dict({"steps": 1, "steps_per_segment": 1, "local_batch": 21}).micro_batch == 21
    with pytest.raises(ValueError, match=r"train.micro_batch=5 does not divide train.local_batch=21; "
                                         r"pick one of \[1, 3, 7, 21\]"):
        TrainConfig.from_dict({"steps": 1, "steps_per_segment": 1, "local_batch": 21, "micro_batch": 5})
