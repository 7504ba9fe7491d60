"""Micro-batches (gradient accumulation), the chunked loss and activation checkpointing on real gloo
ranks: the same loss and gradients as the one-pass, one-chunk step without checkpointing, exact
resume mid-run."""

import json

import pytest
import torch

import train_helpers as h
from cpt.train import checkpoint
from cpt.train.config import TrainConfig

TP2 = {"dp_replicate": 1, "dp_shard": 2, "tp": 2}
DP2 = {"dp_replicate": 1, "dp_shard": 2, "tp": 1}


# label -> overrides of the base config (TP2, local batch 4 rows of 32 tokens, no checkpointing). The
# reference is one pass with the loss in one chunk; chunks of 32 tokens are the trainer's former one
# row per chunk, 20 split rows (10 tokens per TP rank), 48 span two.
ONE_CHUNK = 10**9
VARIANTS = {"one pass": {"loss_chunk_tokens": ONE_CHUNK},
            "micro 2": {"micro_batch": 2, "loss_chunk_tokens": ONE_CHUNK},
            "micro 1": {"micro_batch": 1, "loss_chunk_tokens": ONE_CHUNK},
            "chunk 32": {"loss_chunk_tokens": 32}, "chunk 48": {"loss_chunk_tokens": 48},
            "micro 2, chunk 20": {"micro_batch": 2, "loss_chunk_tokens": 20},
            "selective": {"activation_checkpointing": "selective", "activation_checkpointing_every": 2,
                          "loss_chunk_tokens": ONE_CHUNK},
            "full": {"activation_checkpointing": "full", "loss_chunk_tokens": ONE_CHUNK}}


@pytest.fixture(scope="module")
def variants(tmp_path_factory, model_dir):
    """Loss and gathered gradients of each variant, same weights and batch, 4 ranks (FSDP 2 x TP 2)."""
    tmp = tmp_path_factory.mktemp("variants")
    h.import_step0(model_dir, tmp)
    config = h.train_config(tmp / "tp.yaml", parallel=TP2, local_batch=4)
    out = tmp / "grads.pt"
    worker = str(h.Path(__file__).with_name("micro_worker.py"))
    step0 = checkpoint.step_dir(tmp / "checkpoints", 0)
    h.run_ok(4, [worker, str(config), str(model_dir), str(step0), str(out), json.dumps(VARIANTS)], tmp / "logs")
    return torch.load(out)


@pytest.mark.parametrize("label", ["micro 2", "micro 1", "chunk 32", "chunk 48", "micro 2, chunk 20"])
def test_micro_batches_and_loss_chunks_give_the_one_pass_loss_and_gradients(variants, label):
    one_pass, got = variants["one pass"], variants[label]
    assert one_pass["loss"] > 1  # a real loss (log 128 = 4.85 at random init), not an empty sum
    assert got.keys() == one_pass.keys()
    for name, want in one_pass.items():
        torch.testing.assert_close(got[name], want, atol=1e-6, rtol=1e-5, msg=f"{label}: {name}")


@pytest.mark.parametrize("mode", ["selective", "full"])
def test_checkpointing_changes_no_loss_or_gradient(variants, mode):
    """Recomputing a block's forward in backward runs the same ops on the same inputs: bitwise equal."""
    one_pass = variants["one pass"]
    assert variants[mode].keys() == one_pass.keys()
    for name, want in one_pass.items():
        assert torch.equal(variants[mode][name], want), f"{mode}: {name}"


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
