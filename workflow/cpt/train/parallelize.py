"""The parallel recipe, in the one order that works on torch 2.13:

    tensor parallel (+ sequence parallel) -> compile each block in place
    -> activation checkpointing -> FSDP2 (HSDP): embedding, each block, norm + head, root

Why this order (torch 2.13, found on this hardware): checkpoint_wrapper before compile
crashes with TP, so each block is compiled in place first (which also keeps state-dict
names free of `_orig_mod.`); sequence parallel puts every parameter on the TP mesh, which
clip_grad_norm_ needs; and the TP embedding's output is cloned (see apply_tp).

Each step is a small function switched by the train config; the model file
knows nothing of this.
"""

from __future__ import annotations

import torch
from torch.distributed.algorithms._checkpoint.checkpoint_wrapper import checkpoint_wrapper
from torch.distributed.device_mesh import DeviceMesh
from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard
from torch.distributed.tensor import Replicate, Shard
from torch.distributed.tensor.parallel import (ColwiseParallel, PrepareModuleInput, RowwiseParallel,
                                               SequenceParallel, parallelize_module)

from cpt.train.config import checkpointed_blocks
from cpt.train.model import Llama

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}


def parallelize(model: Llama, mesh: DeviceMesh, cfg) -> Llama:
    """Apply the whole recipe to `model` (on meta or a device) and return it."""
    check_dtype(cfg.param_dtype, mesh.device_type)
    if mesh["tp"].size() > 1:
        apply_tp(model, mesh["tp"], loss_parallel=True)
    if cfg.compile:
        apply_compile(model)
    if cfg.activation_checkpointing != "none":
        apply_ac(model, checkpointed_blocks(cfg.activation_checkpointing, cfg.activation_checkpointing_every,
                                            len(model.layers)))
    dp_mesh, param_dtype = mesh["dp_replicate", "dp_shard"], DTYPES[cfg.param_dtype]
    # With one DP rank and fp32 compute FSDP would only copy parameters and gradients each step.
    if dp_mesh.size() > 1 or param_dtype != torch.float32:
        apply_fsdp(model, dp_mesh, param_dtype=param_dtype, reduce_dtype=DTYPES[cfg.reduce_dtype])
    return model


def check_dtype(param_dtype: str, device_type: str) -> None:
    """A GPU without bf16 (pre-Ampere NVIDIA) would emulate it slowly or fail inside a kernel."""
    if param_dtype == "bfloat16" and device_type == "cuda" and not torch.cuda.is_bf16_supported():
        raise RuntimeError(f"train.param_dtype=bfloat16, but {torch.cuda.get_device_name()} has no bf16 support; "
                           "use a GPU with bf16 (A100, H100, MI250X) or set train.param_dtype: float32")


def apply_tp(model: Llama, tp_mesh: DeviceMesh, *, loss_parallel: bool) -> None:
    """Megatron-style TP with sequence parallel: the residual stream is sharded on the
    sequence between blocks, so every parameter (norms included) lives on the TP mesh
    and one global grad-norm covers them all.
    """
    parallelize_module(model, tp_mesh, {
        "embed_tokens": RowwiseParallel(input_layouts=Replicate(), output_layouts=Shard(1)),
        "norm": SequenceParallel(),
        # Logits stay vocab-sharded under loss_parallel; the loss never gathers them.
        "lm_head": ColwiseParallel(input_layouts=Shard(1),
                                   output_layouts=Shard(-1) if loss_parallel else Replicate(),
                                   use_local_output=not loss_parallel),
    })
    for block in model.layers.values():
        parallelize_module(block, tp_mesh, {
            "input_layernorm": SequenceParallel(),
            "self_attn": PrepareModuleInput(input_layouts=(Shard(1), None), desired_input_layouts=(Replicate(), None)),
            "self_attn.q_proj": ColwiseParallel(),
            "self_attn.k_proj": ColwiseParallel(),
            "self_attn.v_proj": ColwiseParallel(),
            "self_attn.o_proj": RowwiseParallel(output_layouts=Shard(1)),
            "post_attention_layernorm": SequenceParallel(),
            "mlp": PrepareModuleInput(input_layouts=(Shard(1),), desired_input_layouts=(Replicate(),)),
            "mlp.gate_proj": ColwiseParallel(),
            "mlp.up_proj": ColwiseParallel(),
            "mlp.down_proj": RowwiseParallel(output_layouts=Shard(1)),
        })
    if model.args.tie_embeddings:
        # Each module got its own DTensor copy above, which would train apart. Both shard the
        # (vocab, dim) matrix on rows (Shard(0)), so one parameter serves both again.
        assert model.embed_tokens.weight.placements == model.lm_head.weight.placements
        model.tie_embeddings()
    # Trap: a TP embedding output fed straight into compiled TP blocks gets silently
    # wrong gradients in torch 2.13; a clone breaks the aliasing that triggers it.
    model.embed_tokens.register_forward_hook(lambda module, args, out: out.clone())


def apply_compile(model: Llama) -> None:
    """Compile each block in place: keeps state-dict names free of `_orig_mod.` and must
    precede checkpoint wrapping (wrapping first crashes with TP)."""
    for block in model.layers.values():
        block.compile(fullgraph=True)


def apply_ac(model: Llama, blocks: list[int]) -> None:
    """Activation checkpointing of the blocks at `blocks` (all: full; every k-th: selective): each
    recomputes its forward in backward, keeping only its input. The others keep their activations."""
    for i in blocks:
        model.layers[str(i)] = checkpoint_wrapper(model.layers[str(i)], preserve_rng_state=False)


def apply_fsdp(model: Llama, dp_mesh: DeviceMesh, *, param_dtype: torch.dtype, reduce_dtype: torch.dtype) -> None:
    """FSDP2 units as torchtitan cuts them: the embedding, each block, the final norm with the
    output head, then the root; a 2-D (replicate, shard) mesh makes it HSDP.

    Each vocabulary matrix is gathered just before its use (its gather overlapping the previous
    unit's compute) rather than both at once by the root. Tied embeddings are one parameter,
    which can live in one unit only: the root keeps it, gathered for the whole step.
    """
    policy = MixedPrecisionPolicy(param_dtype=param_dtype, reduce_dtype=reduce_dtype)
    tied = model.args.tie_embeddings
    if not tied:
        fully_shard(model.embed_tokens, mesh=dp_mesh, mp_policy=policy)
    blocks = list(model.layers.values())
    for i, block in enumerate(blocks):
        # The last block's params are needed again at once by backward: keep them.
        fully_shard(block, mesh=dp_mesh, mp_policy=policy, reshard_after_forward=i < len(blocks) - 1)
    if not tied:
        # Norm and head run last in forward and first in backward: no reshard in between.
        fully_shard([model.norm, model.lm_head], mesh=dp_mesh, mp_policy=policy, reshard_after_forward=False)
    fully_shard(model, mesh=dp_mesh, mp_policy=policy)
