"""Rank program for the micro-batch and loss-chunk test: the same weights and batch (4 rows of 32
tokens) stepped in one pass with the loss in one chunk, in micro-batches of 1 and 2 rows, and with
loss chunks of one row (the trainer's chunk before train.loss_chunk_tokens), of less than a row and
across rows; rank 0 saves each variant's loss and full (gathered) gradients."""

import sys
from dataclasses import replace
from pathlib import Path

import torch
import torch.distributed as dist

from cpt.train import hf, launch
from cpt.train.config import load_train_config
from grad_worker import grads


def main(cfg_path, model_dir, step0, out):
    device = launch.init_distributed(launch.detect())
    cfg = load_train_config(str(cfg_path))
    mesh = launch.build_mesh(cfg.parallel, device)
    args = hf.model_args(model_dir)
    tokens = torch.randint(0, args.vocab_size, (cfg.local_batch, 33), generator=torch.Generator().manual_seed(0))
    # (micro-batch, loss chunk tokens); the first is the one-pass, one-chunk reference.
    shapes = [(cfg.local_batch, 10**9), (2, 10**9), (1, 10**9), (cfg.local_batch, 32), (cfg.local_batch, 48),
              (2, 20)]
    variants = {shape: grads(replace(cfg, micro_batch=shape[0], loss_chunk_tokens=shape[1]), args, mesh, device,
                             step0, tokens) for shape in shapes}
    if dist.get_rank() == 0:
        torch.save(variants, out)
    dist.destroy_process_group()


if __name__ == "__main__":
    main(*map(Path, sys.argv[1:]))
