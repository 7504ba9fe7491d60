"""Which attention kernel training will run, checked on the device before the first step.

SDPA picks a kernel per call and falls back to the math kernel without a word when the
fused ones (flash, memory-efficient, cuDNN) refuse a shape, a dtype or grouped K/V heads
(`enable_gqa`; on ROCm and for some CUDA shapes). The math kernel materialises the whole
score matrix: at 8,192 tokens and 32 heads that is 4 GiB per sequence in bf16, and more in
backward. So one small forward + backward at the configured shape runs with only the fused
kernels allowed, and `train.attention` says what to do when they refuse:

    gqa        SDPA with enable_gqa; stop with a clear message if no fused kernel takes it
    repeat_kv  repeat K/V heads to the query heads first (as HF does); costs K/V memory
    auto       gqa if a fused kernel takes it, else repeat_kv (logged), else stop
"""

from __future__ import annotations

import logging
import warnings

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

from cpt.train.model import ModelArgs

log = logging.getLogger("cpt")
MODES = ("auto", "gqa", "repeat_kv")
FUSED = [SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION, SDPBackend.CUDNN_ATTENTION]


class AttentionKernelError(RuntimeError):
    """No fused SDPA kernel takes the configured attention; the math kernel would not fit."""


def fused_kernel_refusal(args: ModelArgs, seq_len: int, tp: int, dtype: torch.dtype, device: torch.device,
                         *, repeat_kv: bool) -> str | None:
    """Why no fused kernel runs one rank's attention at this shape (None: one does)."""
    heads, kv_heads = args.n_heads // tp, args.n_kv_heads // tp
    shape = (1, heads, seq_len, args.head_dim)
    q = torch.randn(shape, dtype=dtype, device=device, requires_grad=True)
    k, v = (torch.randn((1, kv_heads, seq_len, args.head_dim), dtype=dtype, device=device, requires_grad=True)
            for _ in range(2))
    if repeat_kv:
        k, v = (t.repeat_interleave(heads // kv_heads, dim=1) for t in (k, v))
    with warnings.catch_warnings(record=True) as caught, sdpa_kernel(FUSED):
        warnings.simplefilter("always")
        try:
            F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=not repeat_kv).sum().backward()
        except RuntimeError as err:
            reasons = "; ".join(str(w.message).strip() for w in caught)  # SDPA warns why each kernel refused
            return f"{str(err).strip()} {reasons}".strip()
    return None


def select(mode: str, args: ModelArgs, seq_len: int, tp: int, dtype: torch.dtype, device: torch.device) -> bool:
    """Check the attention kernel for `train.attention` = `mode`; returns whether to repeat K/V heads."""
    if mode not in MODES:
        raise ValueError(f"train.attention={mode!r}: expected one of {', '.join(MODES)}")
    if device.type != "cuda":
        log.info("attention: %s; the fused-kernel check runs on GPUs only (skipped on %s)", mode, device.type)
        return mode == "repeat_kv"
    tries = {"gqa": [False], "repeat_kv": [True], "auto": [False, True]}[mode]
    refusals = []
    for repeat_kv in tries:
        refusal = fused_kernel_refusal(args, seq_len, tp, dtype, device, repeat_kv=repeat_kv)
        name = "repeat_kv" if repeat_kv else "gqa"
        if refusal is None:
            log.info("attention: %s runs a fused SDPA kernel on %s (%d query / %d K/V heads per rank, head dim %d, "
                     "%d tokens, %s)%s", name, torch.cuda.get_device_name(device), args.n_heads // tp,
                     args.n_kv_heads // tp, args.head_dim, seq_len, dtype,
                     " after gqa was refused: falling back deliberately" if refusals else "")
            return repeat_kv
        log.warning("attention: no fused SDPA kernel for %s: %s", name, refusal)
        refusals.append(f"{name}: {refusal}")
    scores_gib = args.n_heads // tp * seq_len * seq_len * dtype.itemsize / 2**30
    raise AttentionKernelError(
        f"train.attention={mode}: no flash, memory-efficient or cuDNN SDPA kernel runs attention with "
        f"{args.n_heads // tp} query / {args.n_kv_heads // tp} K/V heads per rank, head dim {args.head_dim}, "
        f"{seq_len} tokens in {dtype} on {torch.cuda.get_device_name(device)} ({' | '.join(refusals)}). The math "
        f"kernel would materialise {scores_gib:.1f} GiB of scores per sequence. "
        + ("Set train.attention: auto to fall back to repeated K/V heads, or " if mode == "gqa" else "")
        + "use train.param_dtype: bfloat16 or a torch build whose fused kernels support this GPU.")
