"""One all-reduce per GPU rank through the trainer's own start-up (cpt.train.launch: device guard,
nccl/rccl process group, comm check), in seconds: the GPU checks' first step, so a broken NCCL shows
before minutes of benchmark and tests.

    python benchmarks/nccl_check.py        # one rank per visible GPU; prints "nccl ok: ..." or exits 1
"""

from __future__ import annotations

import os
import socket
import sys
import time

import torch
import torch.distributed as dist
import torch.multiprocessing as mp


def rank_main(rank: int, world: int, port: int) -> None:
    from cpt.train import launch

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    device = launch.init_distributed(launch.Ranks(rank, world, rank, "127.0.0.1", port))
    total = torch.ones(1 << 20, device=device)
    start = time.perf_counter()
    dist.all_reduce(total)
    torch.cuda.synchronize(device)
    if rank == 0:
        print(f"nccl ok: {world} ranks on {torch.cuda.get_device_name(device)}, all_reduce of 4 MB = "
              f"{total[0].item():.0f} (expected {world}) in {time.perf_counter() - start:.3f} s", flush=True)
    ok = total[0].item() == world
    dist.destroy_process_group()
    if not ok:
        raise SystemExit(f"rank {rank}: all_reduce gave {total[0].item()}, expected {world}")


def main() -> int:
    if not torch.cuda.is_available():
        print(f"no GPU visible to torch {torch.__version__} (cuda {torch.version.cuda}, hip {torch.version.hip})",
              file=sys.stderr)
        return 2
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    world = torch.cuda.device_count()
    mp.spawn(rank_main, args=(world, port), nprocs=world)
    return 0


if __name__ == "__main__":
    sys.exit(main())
