"""The attention kernel choice (cpt.train.attention) and the repeated-K/V fallback, on CPU."""

import logging

import pytest
import torch

from cpt.train import attention, hf
from cpt.train.model import Llama
from train_helpers import SEQ_LEN, VOCAB


def test_repeat_kv_computes_the_same_attention(model_dir):
    args, weights = hf.model_args(model_dir), hf.load_hf_state_dict(model_dir)
    assert args.n_kv_heads < args.n_heads  # the tiny model has grouped K/V heads
    tokens = torch.randint(0, VOCAB, (2, SEQ_LEN), generator=torch.Generator().manual_seed(3))
    logits = []
    for repeat_kv in (False, True):
        model = Llama(args, SEQ_LEN, repeat_kv=repeat_kv)
        model.load_state_dict(weights)
        with torch.no_grad():
            logits.append(model(tokens))
    torch.testing.assert_close(logits[1], logits[0], atol=1e-6, rtol=0)


def test_check_is_skipped_on_cpu_with_a_log_line(model_dir, caplog):
    args = hf.model_args(model_dir)
    with caplog.at_level(logging.INFO, logger="cpt"):
        choices = {mode: attention.select(mode, args, SEQ_LEN, 1, torch.float32, torch.device("cpu"))
                   for mode in attention.MODES}
    assert choices == {"auto": False, "gqa": False, "repeat_kv": True}
    assert "fused-kernel check runs on GPUs only (skipped on cpu)" in caplog.text
    with pytest.raises(ValueError, match="train.attention='flash': expected one of auto, gqa, repeat_kv"):
        attention.select("flash", args, SEQ_LEN, 1, torch.float32, torch.device("cpu"))


def test_probe_runs_forward_and_backward(model_dir):
    """The probe itself (CPU's SDPA has a fused flash kernel too): per-rank heads under tp=2."""
    args = hf.model_args(model_dir)
    for repeat_kv in (False, True):
        assert attention.fused_kernel_refusal(args, SEQ_LEN, 2, torch.bfloat16, torch.device("cpu"),
                                              repeat_kv=repeat_kv) is None
