"""Rank program for the micro-batch and checkpointing tests: the same weights and batch stepped under
each variant of the train config (a JSON object of label -> overrides: micro-batch sizes,
activation checkpointing modes); rank 0 saves each variant's loss and full (gathered) gradients."""

import json
import sys
from dataclasses import replace
from pathlib import Path

import torch
import torch.distributed as dist

from cpt.train import hf, launch
from cpt.train.config import load_train_config
from grad_worker import grads


def main(cfg_path, model_dir, step0, out, variants):
    device = launch.init_distributed(launch.detect())
    cfg = load_train_config(str(cfg_path))
    mesh = launch.build_mesh(cfg.parallel, device)
    args = hf.model_args(model_dir)
    tokens = torch.randint(0, args.vocab_size, (cfg.local_batch, 33), generator=torch.Generator().manual_seed(0))
    results = {label: grads(replace(cfg, **overrides), args, mesh, device, step0, tokens)
               for label, overrides in json.loads(variants).items()}
    if dist.get_rank() == 0:
        torch.save(results, out)
    dist.destroy_process_group()


if __name__ == "__main__":
    main(*map(Path, sys.argv[1:5]), sys.argv[5])
