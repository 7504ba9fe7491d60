"""Rank detection and the device mesh, the same under torchrun and srun.

torchrun sets RANK/WORLD_SIZE/LOCAL_RANK/MASTER_ADDR/MASTER_PORT; srun sets
SLURM_PROCID/SLURM_NTASKS/SLURM_LOCALID and the node list, from which the first
node becomes the rendezvous host. One code path serves the laptop and Frontier.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch.distributed.device_mesh import DeviceMesh, init_device_mesh

from cpt import devices
from cpt.train import comm_check

MESH_DIMS = ("dp_replicate", "dp_shard", "tp")


class LaunchError(RuntimeError):
    """The processes, environment and config do not describe one consistent job."""


@dataclass(frozen=True)
class Ranks:
    rank: int
    world_size: int
    local_rank: int
    master_addr: str
    master_port: int


def first_host(nodelist: str) -> str:
    """First host of a Slurm node list: 'frontier[00012-00015,00020],login1' -> 'frontier00012'."""
    match = re.match(r"([^,\[]+)(?:\[([^\]]+)\])?", nodelist.strip())
    if not match:
        raise LaunchError(f"SLURM_JOB_NODELIST={nodelist!r}: cannot parse a host name from it")
    prefix, ranges = match.groups()
    return prefix + ranges.split(",")[0].split("-")[0] if ranges else prefix


def detect(env: dict[str, str] | None = None) -> Ranks:
    """Ranks from torchrun's variables, else Slurm's, else a single process."""
    env = os.environ if env is None else env
    if "RANK" in env and "WORLD_SIZE" in env:
        return Ranks(int(env["RANK"]), int(env["WORLD_SIZE"]), int(env.get("LOCAL_RANK", 0)),
                     env.get("MASTER_ADDR", "127.0.0.1"), int(env.get("MASTER_PORT", 29500)))
    if "SLURM_PROCID" in env:
        nodelist = env.get("SLURM_JOB_NODELIST") or env.get("SLURM_NODELIST")
        if not nodelist and "MASTER_ADDR" not in env:
            raise LaunchError("SLURM_PROCID is set but neither SLURM_JOB_NODELIST nor MASTER_ADDR is; "
                              "launch with srun inside an allocation")
        # A port derived from the job id lets two jobs share a node without colliding.
        port = env.get("MASTER_PORT") or 20000 + int(env.get("SLURM_JOB_ID", 0)) % 20000
        return Ranks(int(env["SLURM_PROCID"]), int(env["SLURM_NTASKS"]), int(env.get("SLURM_LOCALID", 0)),
                     env.get("MASTER_ADDR") or first_host(nodelist), int(port))
    return Ranks(0, 1, 0, "127.0.0.1", int(env.get("MASTER_PORT", 29500)))


def init_distributed(ranks: Ranks) -> torch.device:
    """Join the process group: nccl (rccl on ROCm) on GPUs, gloo on CPU (never in a job given GPUs).
    The device is settled first: a refusal leaves the process's environment as it found it."""
    backend = devices.cuda_or_cpu("trainer")
    os.environ.update(RANK=str(ranks.rank), WORLD_SIZE=str(ranks.world_size), LOCAL_RANK=str(ranks.local_rank),
                      MASTER_ADDR=ranks.master_addr, MASTER_PORT=str(ranks.master_port))
    if backend == "cuda":
        device = torch.device("cuda", ranks.local_rank % torch.cuda.device_count())
        torch.cuda.set_device(device)
        dist.init_process_group("nccl", device_id=device)
    else:
        device = torch.device("cpu")
        dist.init_process_group("gloo")
    comm_check.check()   # stop here, not hours later, if collectives between nodes would use TCP
    return device


def check_mesh(parallel: dict, world_size: int) -> tuple[int, int, int]:
    shape = tuple(int(parallel[d]) for d in MESH_DIMS)
    if shape[0] * shape[1] * shape[2] != world_size:
        raise LaunchError(
            f"train.parallel dp_replicate x dp_shard x tp = {' x '.join(map(str, shape))} = "
            f"{shape[0] * shape[1] * shape[2]}, but {world_size} processes were launched "
            "(WORLD_SIZE / SLURM_NTASKS); change train.parallel or the number of tasks so they agree")
    return shape


def build_mesh(parallel: dict, device: torch.device) -> DeviceMesh:
    """A 3-D mesh (dp_replicate, dp_shard, tp); TP innermost so it stays within a node."""
    shape = check_mesh(parallel, dist.get_world_size())
    return init_device_mesh(device.type, shape, mesh_dim_names=MESH_DIMS)
