"""Rank program: real (gloo) memory of the trainer, measured with the trace's own MemTracker code.

1. Peak by kind of a training step (after a first one) at a small shape: what the fake-mode
   trace (cpt/plan/trace.py) must reproduce; and the peak under each other checkpointing mode.
2. The step's peak at two vocabulary sizes, with the one-pass loss the trainer used before
   (whole-batch logits) and with its chunked loss: the slope is the loss's working set in
   bytes per local logit element.
"""

import contextlib
import json
import sys
from dataclasses import replace
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.distributed.tensor.parallel import loss_parallel

from cpt.plan.trace import model_args, track_peak, traced_training
from cpt.train import launch
from cpt.train.config import TrainConfig
from cpt.train.loop import build, train_step


def one_pass_step(model, inputs, targets, tp):
    """The trainer's step before the chunked loss: all logits at once (the baseline)."""
    with loss_parallel() if tp else contextlib.nullcontext():
        logits = model(inputs)
        loss = F.cross_entropy(logits.flatten(0, 1).float(), targets.flatten())
        loss.backward()


def step_peak(train, shape, seq_len, mesh, device, step_fn):
    args = model_args(shape, seq_len)
    model, optimizer = build(args, train, seq_len, mesh, device)
    tokens = torch.randint(0, args.vocab_size, (train.local_batch, seq_len + 1), device=device)

    def step():
        step_fn(model, tokens[:, :-1], tokens[:, 1:], mesh["tp"].size() > 1)
        model.zero_grad(set_to_none=True)

    return track_peak(model, optimizer, step)["Total"]


def main(spec_path, out):
    spec = json.loads(Path(spec_path).read_text())
    device = launch.init_distributed(launch.detect())
    train = TrainConfig.from_dict(spec["config"]["train"])
    seq_len = spec["config"]["data"]["seq_len"]
    mesh = launch.build_mesh(train.parallel, device)
    args = model_args(spec["shape"], seq_len)
    result = {"traced": traced_training(train, args, seq_len, mesh, device),
              "by_ac_mode": {mode: traced_training(replace(train, activation_checkpointing=mode), args, seq_len, mesh,
                                                   device)["Total"] for mode in ("none", "selective")}}
    one_pass = replace(train, micro_batch=train.local_batch)
    steps = {"one_pass": one_pass_step,
             "chunked": lambda *a: train_step(*a, micro_batch=train.local_batch, chunk_tokens=train.loss_chunk_tokens)}
    result["working_set"] = {name: {vocab: step_peak(one_pass, {**spec["shape"], "vocab_size": vocab}, seq_len, mesh,
                                                     device, fn) for vocab in spec["vocabs"]}
                             for name, fn in steps.items()}
    if dist.get_rank() == 0:
        Path(out).write_text(json.dumps(result))
    dist.destroy_process_group()


if __name__ == "__main__":
    main(*sys.argv[1:])
