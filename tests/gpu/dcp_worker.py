"""Rank program of the GPU DCP test: train 2 steps on the GPU, save model and optimizer with
DCP, load them into a freshly built model, and report every tensor that differs."""

import json
import sys
from pathlib import Path

import torch
import torch.distributed as dist
from torch.distributed.checkpoint.state_dict import get_state_dict
from torch.distributed.tensor import DTensor

from cpt.train import checkpoint, hf, launch
from cpt.train.config import load_train_config
from cpt.train.loop import build, clip_grad_norm, train_step


def flat(state, prefix=""):
    for key, value in state.items():
        if isinstance(value, dict):
            yield from flat(value, f"{prefix}{key}.")
        elif isinstance(value, torch.Tensor):
            yield prefix + key, value.to_local() if isinstance(value, DTensor) else value


def main(cfg_path, model_dir, root):
    device = launch.init_distributed(launch.detect())
    cfg = load_train_config(str(cfg_path))
    mesh = launch.build_mesh(cfg.parallel, device)
    args = hf.model_args(model_dir)
    tokens = torch.randint(0, args.vocab_size, (4, 33), generator=torch.Generator().manual_seed(0)).to(device)
    model, optimizer = build(args, cfg, 32, mesh, device)
    checkpoint.load(checkpoint.step_dir(root, 0), model, optimizer)
    for _ in range(2):
        train_step(model, tokens[:, :-1], tokens[:, 1:], tp=False)
        clip_grad_norm(model, 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    saved = checkpoint.step_dir(root, 2)
    checkpoint.save(saved, model, optimizer, {"step": 2})
    expected = {k: v.detach().clone() for k, v in flat(dict(zip(("model", "optim"), get_state_dict(model, optimizer))))}
    fresh, fresh_optimizer = build(args, cfg, 32, mesh, device)
    checkpoint.load(saved, fresh, fresh_optimizer)
    loaded = dict(flat(dict(zip(("model", "optim"), get_state_dict(fresh, fresh_optimizer)))))
    mismatched = sorted(k for k in expected if k not in loaded or loaded[k].device != expected[k].device
                        or not torch.equal(loaded[k], expected[k]))
    if dist.get_rank() == 0:
        (Path(root).parent / "dcp.json").write_text(json.dumps({"tensors": len(expected), "mismatched": mismatched,
                                                                "device": str(device)}))
    dist.destroy_process_group()


if __name__ == "__main__":
    main(*map(Path, sys.argv[1:]))
