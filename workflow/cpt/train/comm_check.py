"""The communication stack a training job is about to run on, checked before the first step.

RCCL (NCCL on ROCm) reaches Frontier's Slingshot network only through a network plugin
(aws-ofi-nccl, OLCF's rccl-net-plugin module); without it, or with NCCL_NET left to choose,
it falls back to TCP sockets silently and 512 ranks train at a fraction of the speed. So a
multi-node job states its stack (collective library and version, the network asked for, the
plugin library that actually loaded) and stops, on every rank at once, with the fix when its
collectives between nodes would go over TCP. Sources: profiles/frontier/sources.yaml.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist

log = logging.getLogger(__name__)

# aws-ofi-nccl's names: "Libfabric" by default, "OFI" when NCCL_NET=OFI asks for it (OLCF writes OFI),
# "AWS Libfabric" in older releases.
FABRIC_NETS = {"ofi", "libfabric", "aws libfabric"}
PLUGIN_LIBRARY = re.compile(r"\S*lib(?:rccl|nccl)-net[^/\s]*\.so[.\d]*$")


class CommCheckError(RuntimeError):
    """Collectives between nodes would not use the high-speed network."""


@dataclass(frozen=True)
class CommReport:
    backend: str
    world_size: int
    nodes: int
    library: str          # "RCCL 2.22.3" / "NCCL 2.21.5" / "gloo"
    hip: str | None       # torch.version.hip: the ROCm the wheel was built for
    net: str | None       # NCCL_NET as the job set it
    plugins: tuple[str, ...]   # network plugin libraries mapped into this process

    def line(self) -> str:
        plugins = ", ".join(self.plugins) or "none loaded"
        return (f"comm: {self.backend} ({self.library}, HIP {self.hip}) on {self.world_size} ranks / {self.nodes} "
                f"nodes; NCCL_NET={self.net}; network plugin: {plugins}")


def loaded_plugins(maps: Path = Path("/proc/self/maps")) -> tuple[str, ...]:
    """Paths of RCCL/NCCL network plugins (lib{rccl,nccl}-net*.so) this process has mapped."""
    if not maps.exists():
        return ()
    found = {m.group(0) for line in maps.read_text().splitlines() if (m := PLUGIN_LIBRARY.search(line))}
    return tuple(sorted(found))


def node_count(env: dict, world_size: int) -> int:
    """Nodes of the job step (Slurm), else of a torchrun job (world / local world), else 1."""
    for key in ("SLURM_STEP_NUM_NODES", "SLURM_JOB_NUM_NODES", "SLURM_NNODES"):
        if env.get(key):
            return int(env[key])
    if env.get("LOCAL_WORLD_SIZE"):
        return max(1, world_size // int(env["LOCAL_WORLD_SIZE"]))
    return 1


def library(backend: str) -> str:
    if backend != "nccl":
        return backend
    major, minor, patch = torch.cuda.nccl.version()
    return f"{'RCCL' if torch.version.hip else 'NCCL'} {major}.{minor}.{patch}"


def problems(report: CommReport, require_fabric: bool) -> list[str]:
    """Why collectives between this job's nodes would run over TCP (empty: they will not)."""
    if report.nodes <= 1 or not require_fabric:
        return []
    if report.backend == "gloo":
        return [f"{report.nodes} nodes on the gloo backend: gloo has no RDMA transport, every collective goes over "
                "TCP sockets; train on GPUs (nccl/rccl) with the network plugin loaded"]
    found = []
    if (report.net or "").lower() not in FABRIC_NETS:
        found.append(f"NCCL_NET={report.net}: RCCL may fall back to TCP sockets without saying so; set NCCL_NET=OFI "
                     "for multi-node jobs (profiles/frontier/job-env.sh does, through BASH_ENV from env.sh)")
    if not report.plugins:
        found.append("no network plugin (lib{rccl,nccl}-net*.so) was loaded by the first collective: RCCL is on "
                     "TCP sockets; `module load rccl-net-plugin` after rocm (source profiles/frontier/env.sh "
                     "before snakemake), or point NCCL_NET_PLUGIN at librccl-net.so")
    return found


def check(require_fabric: bool | None = None, env: dict | None = None) -> CommReport:
    """Run one collective (communicators and the network plugin load lazily), report the stack on rank 0,
    and raise CommCheckError on every rank if any rank's collectives between nodes would use TCP.

    require_fabric: None = whenever the backend is not gloo (GPU jobs); True forces the check (tests)."""
    env = os.environ if env is None else env
    backend = dist.get_backend()
    device = torch.device("cuda", torch.cuda.current_device()) if backend == "nccl" else torch.device("cpu")
    dist.all_reduce(torch.ones(1, device=device))
    report = CommReport(backend=backend, world_size=dist.get_world_size(),
                        nodes=node_count(env, dist.get_world_size()), library=library(backend),
                        hip=torch.version.hip, net=env.get("NCCL_NET"), plugins=loaded_plugins())
    found = problems(report, backend != "gloo" if require_fabric is None else require_fabric)
    failed = torch.tensor([float(bool(found))], device=device)
    dist.all_reduce(failed)   # every rank stops together, not one rank in a hang of the others
    if dist.get_rank() == 0:
        log.info(report.line())
    if failed.item():
        where = f"rank {dist.get_rank()}: " + "; ".join(found) if found else "another rank's stack"
        raise CommCheckError(f"{report.line()}\nmulti-node collectives would run over TCP ({where}); "
                             "stopping before the first step")
    return report

