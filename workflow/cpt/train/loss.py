"""The training loss with a bounded working set: chunked, vocabulary-parallel cross-entropy.

A one-pass cross-entropy over a batch keeps the logits, their fp32 upcast, the
log-softmax and its gradient alive together: ~16-20 bytes per local logit
element, tens of GB for 21 x 8192 tokens of a 128k vocabulary. Here the output
projection and the loss run one chunk of `chunk_tokens` tokens at a time
(train.loss_chunk_tokens), whatever the rows' length: a chunk may hold several
short rows or part of a long one. Each chunk but the last runs under an
activation checkpoint, so its logits exist only while its loss is computed
(forward) and while its gradient is (backward, recomputed); the last chunk's
backward comes first, right after forward, so checkpointing it would only
recompute it. The working set is one chunk's, whatever seq_len and micro-batch.

Under tensor parallelism (sequence parallel) each rank holds a slice of every
row's positions; a chunk is the same local token range on every rank, so its
head input is one rank-major DTensor that the head gathers as before, and the
logits stay sharded over the vocabulary (`loss_parallel`, which the caller
enters for both forward and backward); the loss never gathers them. The loss is
a sum over tokens, so the order they are taken in changes only float rounding.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.distributed.tensor import DTensor, Shard
from torch.utils.checkpoint import checkpoint

from cpt.train.config import loss_chunk_local_tokens


def chunked_cross_entropy(head: nn.Module, hidden: torch.Tensor, targets: torch.Tensor,
                          chunk_tokens: int | None = None) -> torch.Tensor:
    """Sum of the token losses of `head(hidden)` against `targets` (rows x seq), `chunk_tokens`
    tokens at a time (None: all in one chunk).

    Returns the sum, not the mean, so micro-batches add up to the whole batch's loss exactly."""
    tp, local, rank_major = _local_tokens(hidden, targets)
    size = loss_chunk_local_tokens(chunk_tokens, tp) if chunk_tokens else local.shape[1]
    pieces = list(zip(local.split(size, dim=1), rank_major.split(size, dim=1)))
    total = None
    for i, (rows, labels) in enumerate(pieces):
        args = (head, _like(hidden, rows), labels.flatten())
        part = (_chunk_loss(*args) if i == len(pieces) - 1 else
                checkpoint(_chunk_loss, *args, use_reentrant=False, preserve_rng_state=False))
        total = part if total is None else total + part
    return total


def _local_tokens(hidden: torch.Tensor, targets: torch.Tensor) -> tuple[int, torch.Tensor, torch.Tensor]:
    """(tp, this rank's hidden states as 1 x tokens x dim, the targets as tp x tokens): column j
    of rank k's targets is the target of its local token j."""
    if not isinstance(hidden, DTensor):
        return 1, hidden.flatten(0, 1).unsqueeze(0), targets.reshape(1, -1)
    assert hidden.placements == (Shard(1),), f"sequence-parallel hidden states expected, got {hidden.placements}"
    tp, rows = hidden.device_mesh.size(), targets.shape[0]
    local = hidden.to_local()
    rank_major = targets.reshape(rows, tp, -1).transpose(0, 1).reshape(tp, -1)
    return tp, local.flatten(0, 1).unsqueeze(0), rank_major


def _like(hidden: torch.Tensor, local: torch.Tensor) -> torch.Tensor:
    """A chunk of local tokens, as a DTensor sharded like `hidden` where that is one."""
    if not isinstance(hidden, DTensor):
        return local
    return DTensor.from_local(local, hidden.device_mesh, hidden.placements, run_check=False)


def _chunk_loss(head: nn.Module, hidden: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    logits = head(hidden)
    return F.cross_entropy(logits.flatten(0, 1).float(), targets, reduction="sum")
