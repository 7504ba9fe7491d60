"""The training loss with a bounded working set: chunked, vocabulary-parallel cross-entropy.

A one-pass cross-entropy over a batch keeps the logits, their fp32 upcast, the
log-softmax and its gradient alive together: ~16-20 bytes per local logit
element, tens of GB for 21 x 8192 tokens of a 128k vocabulary. Here the output
projection and the loss run one chunk of rows (sequences) at a time under an
activation checkpoint: a chunk's logits exist only while its loss is computed
(forward) and while its gradient is (backward, recomputed), so the working set
is one chunk's, whatever the batch. Under tensor parallelism the logits stay
sharded over the vocabulary (`loss_parallel`, which the caller enters for both
forward and backward); the loss never gathers them.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from cpt.train.config import LOSS_CHUNK_ROWS


def chunked_cross_entropy(head: nn.Module, hidden: torch.Tensor, targets: torch.Tensor,
                          chunk_rows: int = LOSS_CHUNK_ROWS) -> torch.Tensor:
    """Sum of the token losses of `head(hidden)` against `targets` (rows x seq), chunk by chunk.

    Returns the sum, not the mean, so micro-batches add up to the whole batch's loss exactly."""
    total = None
    for rows, labels in zip(hidden.split(chunk_rows), targets.split(chunk_rows)):
        part = checkpoint(_chunk_loss, head, rows, labels, use_reentrant=False, preserve_rng_state=False)
        total = part if total is None else total + part
    return total


def _chunk_loss(head: nn.Module, hidden: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    logits = head(hidden)
    return F.cross_entropy(logits.flatten(0, 1).float(), targets.flatten(), reduction="sum")
