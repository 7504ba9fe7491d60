"""Rank program for the micro-batch test: the same weights and batch stepped in one pass and in
micro-batches of 1 and 2 rows; rank 0 saves each variant's loss and full (gathered) gradients."""

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
    variants = {micro: grads(replace(cfg, micro_batch=micro), args, mesh, device, step0, tokens)
                for micro in (cfg.local_batch, 2, 1)}
    if dist.get_rank() == 0:
        torch.save(variants, out)
    dist.destroy_process_group()


if __name__ == "__main__":
    main(*map(Path, sys.argv[1:]))
