"""Rank program for the compiled-vs-eager TP gradient test: same weights, same batch,
full (gathered) gradients of both variants saved by rank 0."""

import sys
from dataclasses import replace
from pathlib import Path

import torch
import torch.distributed as dist
from torch.distributed.algorithms._checkpoint.checkpoint_wrapper import _CHECKPOINT_PREFIX

from cpt.train import checkpoint, hf, launch
from cpt.train.config import load_train_config
from cpt.train.loop import build, train_step


def grads(cfg, args, mesh, device, step0, tokens):
    model, optimizer = build(args, cfg, tokens.shape[1] - 1, mesh, device)
    checkpoint.load(step0, model, optimizer)
    loss = train_step(model, tokens[:, :-1], tokens[:, 1:], tp=True, micro_batch=cfg.micro_batch,
                      chunk_tokens=cfg.loss_chunk_tokens)
    # Names as in the state dict, whatever wraps a block (a checkpointed block's are prefixed).
    return {"loss": loss, **{name.replace(_CHECKPOINT_PREFIX, ""): p.grad.full_tensor()
                             for name, p in model.named_parameters()}}


def main(cfg_path, model_dir, step0, out):
    device = launch.init_distributed(launch.detect())
    cfg = load_train_config(str(cfg_path))
    mesh = launch.build_mesh(cfg.parallel, device)
    args = hf.model_args(model_dir)
    tokens = torch.randint(0, args.vocab_size, (2, 33), generator=torch.Generator().manual_seed(0))
    eager = grads(replace(cfg, compile=False), args, mesh, device, step0, tokens)
    compiled = grads(replace(cfg, compile=True), args, mesh, device, step0, tokens)
    if dist.get_rank() == 0:
        torch.save({"eager": eager, "compiled": compiled, "tokens": tokens}, out)
    dist.destroy_process_group()


if __name__ == "__main__":
    main(*map(Path, sys.argv[1:]))
