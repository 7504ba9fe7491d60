"""Memory per GCD traced from the trainer's own code at the config's full shape, on a CPU.

The model is built on the meta device and parallelized by the real recipe (TP +
sequence parallel + activation checkpointing + FSDP2 HSDP) against a fake process
group of the run's full world size; it is then materialized under FakeTensorMode
(tensors with shapes and no storage) and runs two training steps (train_step,
grad clipping, AdamW) under torch's MemTracker, which records the peak of live
tensor bytes by kind. Rank 0's view stands for every rank (all shard alike).

Validated: at small shapes (TP=2 x FSDP=2, TP=4, TP=1) the traced peak and every kind
equal the same code measured with real tensors on gloo ranks (tests/train/test_memory.py).
That needed one fix: DTensor's sharding propagation runs ops on global-shape fake tensors
under the active fake mode, which the tracker counted as allocations (full-vocabulary loss
temporaries, global Adam updates); here it runs outside the trace's mode.

What the trace leaves out: torch.compile (off here: fused kernels change the temporaries;
the GPU benchmark measures that); the caching allocator's fragmentation and reserve, the
runtime's and RCCL's own buffers (the planner's headroom covers them); memory outside
tensors that dispatch sees; AdamW's foreach update (a GPU's default; on CPU it runs the
for-loop one, without the temporary the planner charges for the optimizer step); and GPU
kernel choices: SDPA runs the CPU flash kernel here
(O(seq) memory, like a GPU's flash kernel, but not byte for byte).
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable

import torch
import torch.distributed as dist
from torch._subclasses.fake_tensor import FakeTensorMode
from torch.distributed._tools.fsdp2_mem_tracker import FSDPMemTracker
from torch.distributed._tools.mem_tracker import MemTracker
from torch.distributed.fsdp import FSDPModule
from torch.distributed.tensor._sharding_prop import ShardingPropagator
from torch.nn.modules.module import register_module_forward_pre_hook
from torch.utils._python_dispatch import _disable_current_modes

from cpt.train import launch
from cpt.train.config import TrainConfig
from cpt.train.loop import build, clip_grad_norm, train_step
from cpt.train.model import ModelArgs

GB = 1e9


def model_args(shape: dict, seq_len: int) -> ModelArgs:
    """ModelArgs of an HF config.json or the planner's shape (norm eps and RoPE do not change memory)."""
    return ModelArgs.from_hf_config({"rms_norm_eps": 1e-5, "max_position_embeddings": seq_len, **shape})


def track_peak(model, optimizer, step: Callable[[], None]) -> dict[str, int]:
    """Peak live tensor bytes by kind ("Total" included) of the second of two calls of `step`;
    the first, untracked, creates the optimizer's moments (the steady state is the second)."""
    step()
    tracker = FSDPMemTracker(model, optimizer) if isinstance(model, FSDPModule) else MemTracker()
    tracker.track_external(model, optimizer)

    def fresh_module_stats(module, args):
        # A tracker takes a second root forward for a new iteration and refuses it; micro-batches
        # make several per step. Per-module stats restart; the peak (what we read) is kept.
        if module is model:
            tracker.reset_mod_stats()

    # Registered before the tracker's own global hooks, so it runs first.
    handle = register_module_forward_pre_hook(fresh_module_stats)
    try:
        with tracker:
            step()
    finally:
        handle.remove()
    (peak,) = tracker.get_tracker_snapshot("peak").values()
    return {getattr(kind, "value", kind): value for kind, value in peak.items()}


@contextlib.contextmanager
def propagation_outside_fake_mode():
    """Run DTensor's sharding propagation outside the trace's FakeTensorMode and tracker.

    Propagation derives an op's global output shape by running the op on global-shape fake
    tensors under `detect_fake_mode()`, which inside the trace is the trace's own mode: the
    tracker then counts those global tensors as if a rank allocated them (a full-vocabulary
    logits chunk per loss chunk, a full copy of each parameter's Adam update). Outside the
    modes, propagation uses a fresh FakeTensorMode as in a real run, and the tracker sees only
    the local (per-rank) ops."""
    original = ShardingPropagator._propagate_tensor_meta_non_cached

    def outside(self, op_schema):
        with _disable_current_modes():
            return original(self, op_schema)

    ShardingPropagator._propagate_tensor_meta_non_cached = outside
    try:
        yield
    finally:
        ShardingPropagator._propagate_tensor_meta_non_cached = original


def traced_training(train: TrainConfig, args: ModelArgs, seq_len: int, mesh, device: torch.device,
                    materialize=None) -> dict[str, int]:
    """Build the trainer's model and optimizer on `mesh` and track two full training steps."""
    mode = materialize or contextlib.nullcontext()
    model, optimizer = build(args, train, seq_len, mesh, device, materialize=mode)
    tp = mesh["tp"].size() > 1
    with mode:
        tokens = torch.randint(0, args.vocab_size, (train.local_batch, seq_len + 1), device=device)

        def step():
            train_step(model, tokens[:, :-1], tokens[:, 1:], tp, train.micro_batch, train.loss_chunk_tokens)
            clip_grad_norm(model, train.optimizer.grad_clip)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)

        return track_peak(model, optimizer, step)


def trace_memory(config: dict, shape: dict) -> dict:
    """Rank 0's traced peak (GB, total and by kind) of the config at full shape, compile off."""
    from torch.testing._internal.distributed.fake_pg import FakeStore

    start = time.perf_counter()
    train = TrainConfig.from_dict({**config["train"], "compile": False})
    seq_len = config["data"]["seq_len"]
    world = math.prod(train.parallel[d] for d in launch.MESH_DIMS)
    dist.init_process_group("fake", rank=0, world_size=world, store=FakeStore())
    try:
        mesh = launch.build_mesh(train.parallel, torch.device("cpu"))
        with propagation_outside_fake_mode():
            peak = traced_training(train, model_args(shape, seq_len), seq_len, mesh, torch.device("cpu"),
                                   materialize=FakeTensorMode(allow_non_fake_inputs=True))
    finally:
        dist.destroy_process_group()
    by_kind = {kind: value / GB for kind, value in peak.items() if kind != "Total" and value}
    return {"peak": peak["Total"] / GB, "by_kind": by_kind, "micro_batch": train.micro_batch, "compile": False,
            "seconds": round(time.perf_counter() - start, 1)}
