"""Which GPUs a Slurm job was given, and the rule that such a job never runs on the CPU.

A job given GPUs whose torch sees none (a CPU wheel, or a child narrowed to a device that does not
exist) would otherwise fall back to the CPU and run into its walltime: 8B evaluations and training
steps are hours on a CPU. `device: auto` there is an error that names what the job was given.

Narrowing a child to one GPU uses one variable, the one the vendor's runtime applies first:
ROCm applies ROCR_VISIBLE_DEVICES and renumbers what is left from 0, so a HIP_/CUDA_VISIBLE_DEVICES
with the same id names a device that no longer exists; NVIDIA's runtime reads CUDA_VISIBLE_DEVICES.
"""

from __future__ import annotations

import os

# Set by Slurm in a job (or step) given GPUs; the visibility lists by Slurm or by our own narrowing.
SLURM_GPU_VARIABLES = ("SLURM_JOB_GPUS", "SLURM_STEP_GPUS")
VISIBLE = {"rocm": "ROCR_VISIBLE_DEVICES", "cuda": "CUDA_VISIBLE_DEVICES"}
# What ROCm's HIP layer also reads after ROCR_: left in a narrowed child, it renumbers a second time.
RUNTIME_LISTS = ("ROCR_VISIBLE_DEVICES", "HIP_VISIBLE_DEVICES", "CUDA_VISIBLE_DEVICES")


class NoGPUError(RuntimeError):
    """A job given GPUs sees none: running on would put GPU work on the CPU."""


def granted(env: dict[str, str]) -> dict[str, str]:
    """The GPU variables of a Slurm job (SLURM_GPUS*, SLURM_JOB_GPUS, SLURM_STEP_GPUS and the runtime
    visibility lists), non-empty ones only; nothing outside a Slurm job."""
    if not env.get("SLURM_JOB_ID"):
        return {}
    return {key: value for key, value in sorted(env.items())
            if value and (key.startswith("SLURM_GPUS") or key in SLURM_GPU_VARIABLES or key in RUNTIME_LISTS)}


def vendor(env: dict[str, str]) -> str:
    """'rocm' or 'cuda': by the job's own list (Slurm sets ROCR_VISIBLE_DEVICES for AMD GPUs), else by
    the torch build the children run (torch.version.hip)."""
    if env.get(VISIBLE["rocm"]):
        return "rocm"
    if env.get(VISIBLE["cuda"]):
        return "cuda"
    import torch

    return "rocm" if torch.version.hip else "cuda"


def narrowed(env: dict[str, str], gpu: str, runtime: str) -> dict[str, str]:
    """`env` for a child that must see exactly GPU `gpu` of the job: the runtime's first variable only,
    the other lists removed (they would apply after it, to the renumbered devices)."""
    child = {key: value for key, value in env.items() if key not in RUNTIME_LISTS}
    child[VISIBLE[runtime]] = gpu
    return child


def cuda_or_cpu(who: str, env: dict[str, str] | None = None) -> str:
    """'cuda' (ROCm too) where torch sees a GPU; 'cpu' only where the job was given none."""
    import torch

    if torch.cuda.is_available():
        return "cuda"
    seen = granted(os.environ if env is None else env)
    if seen:
        build = f"HIP {torch.version.hip}" if torch.version.hip else (
            f"CUDA {torch.version.cuda}" if torch.version.cuda else "CPU only")
        raise NoGPUError(
            f"{who}: this Slurm job was given GPUs ({' '.join(f'{k}={v}' for k, v in seen.items())}) but torch "
            f"{torch.__version__} ({build}) sees none; it would run on the CPU into its walltime. Fix: run it in "
            "the env with the GPU build of torch (envs/*.yaml, profiles/frontier/env.sh), and narrow a child to "
            "one GPU with ROCR_VISIBLE_DEVICES alone on ROCm (CUDA_VISIBLE_DEVICES on NVIDIA); to run on the CPU "
            "on purpose, ask for the cpu device instead of auto")
    return "cpu"
