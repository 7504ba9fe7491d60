"""`python -m cpt.train.allreduce --out F`: on every rank of a job, the trainer's own start-up (device
guard, process group, comm check), then the all-reduce bus bandwidth; rank 0 writes the figure.

The compute preflight (cpt.chain.preflight) runs it across its nodes before any training step: a
plugin that did not load, or a network that gives a fraction of its bandwidth, shows here.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
import torch.distributed as dist

from cpt.atomic import write_json
from cpt.train import comm_check, launch


def bandwidth(device: torch.device, megabytes: float, iterations: int) -> dict:
    """All-reduce of a `megabytes` fp32 buffer: correctness and bus bandwidth (nccl-tests' busbw)."""
    world = dist.get_world_size()
    buffer = torch.ones(max(1, int(megabytes * 2**20 / 4)), device=device)
    dist.all_reduce(buffer)                                    # warm-up, and the sum every rank must see
    correct = buffer[0].item() == world and buffer[-1].item() == world
    sync = (lambda: torch.cuda.synchronize(device)) if device.type == "cuda" else (lambda: None)
    sync()
    start = time.perf_counter()
    for _ in range(iterations):
        dist.all_reduce(buffer)
    sync()
    seconds = (time.perf_counter() - start) / iterations
    size = buffer.numel() * 4
    return {"ranks": world, "bytes": size, "seconds": seconds, "correct": correct,
            "busbw_gbps": size / seconds * 2 * (world - 1) / world / 1e9}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cpt.train.allreduce", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="rank 0 writes the JSON here")
    parser.add_argument("--mb", type=float, default=256, help="message size (MB)")
    parser.add_argument("--iterations", type=int, default=10)
    args = parser.parse_args(argv)
    device = launch.init_distributed(launch.detect())          # raises if a GPU job sees no GPU or TCP collectives
    result = bandwidth(device, args.mb, args.iterations)
    report = comm_check.check()
    if dist.get_rank() == 0:
        write_json(args.out, {**result, "nodes": report.nodes, "stack": report.line()})
        print(f"all-reduce of {result['bytes'] / 2**20:.0f} MB on {result['ranks']} ranks / {report.nodes} nodes: "
              f"{result['busbw_gbps']:.2f} GB/s bus bandwidth, {'correct' if result['correct'] else 'WRONG SUM'}",
              flush=True)
    dist.destroy_process_group()
    return 0 if result["correct"] else 1


if __name__ == "__main__":
    sys.exit(main())
