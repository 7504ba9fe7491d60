"""`python -m cpt.train.bench`: one layout's speed, measured on every rank with the trainer's own model,
step and loader on the run's mix and base model: warm-up steps (compile, allocator), then timed steps.
Nothing is saved but rank 0's record (seconds per step, tokens/s per GCD, MFU, peak memory per GCD);
the sweep (workflow/rules/sweep.smk) runs one per candidate layout."""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.distributed as dist

from cpt.atomic import sha256_file, write_json
from cpt.train import checkpoint, hf, launch
from cpt.train.config import load_train_config
from cpt.train.data import open_shards
from cpt.train.loop import build, check_fits, clip_grad_norm, data_loader, train_step
from cpt.train.metrics import memory_peak_gb, peak_flops

log = logging.getLogger("cpt")


def measure(cfg, args, shards, step0: Path, seq_len: int, warmup: int, steps: int, device) -> dict:
    """Seconds of each step after `warmup`, tokens/s per GCD, MFU, and the largest peak memory of any rank."""
    mesh = launch.build_mesh(cfg.parallel, device)
    model, optimizer = build(args, cfg, seq_len, mesh, device)
    checkpoint.load(step0, model, optimizer)
    loader = data_loader(shards, cfg, mesh, position=0)
    tp, times = mesh["tp"].size() > 1, []
    try:
        for i in range(warmup + steps):
            start = time.perf_counter()
            inputs, targets = (t.to(device) for t in next(loader))
            train_step(model, inputs, targets, tp, cfg.micro_batch)
            clip_grad_norm(model, cfg.optimizer.grad_clip)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            times.append(time.perf_counter() - start)
            log.info("%s step %d/%d: %.3f s", "warm-up" if i < warmup else "timed", i + 1, warmup + steps, times[-1])
        global_rows = loader.global_batch
    finally:
        loader.close()
    peak = torch.tensor(memory_peak_gb(device), device=device)
    dist.all_reduce(peak, op=dist.ReduceOp.MAX)
    seconds = statistics.median(times[warmup:])
    per_gcd = global_rows * seq_len / seconds / dist.get_world_size()
    flops = peak_flops(device)
    return {"seconds_per_step": seconds, "step_times_s": times[warmup:], "warmup_steps": warmup,
            "tokens_per_s_per_gcd": per_gcd, "mfu": per_gcd * args.flops_per_token(seq_len) / flops if flops else None,
            "memory_peak_gb": peak.item(), "world_size": dist.get_world_size(), "device": device.type}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cpt.train.bench", description=__doc__.split("\n")[0])
    parser.add_argument("--train-config", required=True, help="the train: section at the layout (inline JSON or file)")
    parser.add_argument("--layout", required=True, help="the layout's name (cpt.plan.sweep), kept in the record")
    parser.add_argument("--manifest", type=Path, required=True, help="the mix's manifest.json")
    parser.add_argument("--base-dir", type=Path, required=True, help="HF base model dir (config, tokenizer)")
    parser.add_argument("--step0", type=Path, required=True, help="the run's step-0 checkpoint (its weights)")
    parser.add_argument("--seq-len", type=int, required=True, help="data.seq_len")
    parser.add_argument("--warmup", type=int, required=True, help="steps before timing (compile, allocator)")
    parser.add_argument("--steps", type=int, required=True, help="timed steps")
    parser.add_argument("--out", type=Path, required=True, help="the record (JSON, rank 0)")
    ns = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    cfg = load_train_config(ns.train_config)
    ranks = launch.detect()
    launch.check_mesh(cfg.parallel, ranks.world_size)
    args = hf.model_args(ns.base_dir)
    check_fits(args, cfg, ns.seq_len)
    shards = open_shards(ns.manifest, seq_len=ns.seq_len, tokenizer_sha256=sha256_file(ns.base_dir / "tokenizer.json"))
    device = launch.init_distributed(ranks)
    try:
        record = measure(cfg, args, shards, ns.step0, ns.seq_len, ns.warmup, ns.steps, device)
        if dist.get_rank() == 0:
            write_json(ns.out, {"layout": ns.layout, "parallel": cfg.parallel, "local_batch": cfg.local_batch,
                                "micro_batch": cfg.micro_batch,
                                "activation_checkpointing": cfg.activation_checkpointing, **record})
            log.info("%s: %.3f s/step, %.0f tokens/s per GCD, peak %.2f GB per GCD", ns.layout,
                     record["seconds_per_step"], record["tokens_per_s_per_gcd"], record["memory_peak_gb"])
    finally:
        dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
