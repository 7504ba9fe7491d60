"""The chain's Slurm command lines: the trainer's arguments, one chain job's sbatch, its ranks' srun."""

from __future__ import annotations

import json
import math
import os
import shlex
import subprocess
import sys

from cpt import cluster
from cpt.digest import config_digest, training_digest
from cpt.live.sinks import live_settings
from cpt.rundir.paths import RunDir


class ChainError(RuntimeError):
    """The chain cannot reach its step; the message names the job log to read."""


def world_size(config: dict) -> int:
    return math.prod(config["train"]["parallel"].values())


def trainer_args(config: dict, until_step: int) -> list[str]:
    """`-m cpt.train ...` for this config: the same on every rank, locally or under srun."""
    run = RunDir.of(config)
    return ["-m", "cpt.train", "--train-config", json.dumps(config["train"]),
            "--manifest", str(run.manifest), "--base-dir", config["model"]["base_dir"],
            "--train-dir", str(run.train), "--seq-len", str(config["data"]["seq_len"]),
            "--until-step", str(until_step), "--training-digest", training_digest(config),
            "--config-digest", config_digest(config), "--live", json.dumps(live_settings(config))]


def sbatch_command(config: dict, after: str | None = None, entry: str = "job") -> list[str]:
    """One chain job (or, entry `preflight-job`, the compute preflight): the train_segment request from
    config `slurm` (cpt.cluster), as sbatch flags."""
    run = RunDir.of(config)
    tasks = world_size(config)
    res = cluster.resources(config, "train_segment", tasks)
    per_node = config["slurm"]["launch"]["tasks_per_node"]
    name = f"cpt-{'train' if entry == 'job' else 'preflight'}-{config['run']}"
    args = ["sbatch", "--parsable", f"--job-name={name}", f"--partition={res['slurm_partition']}",
            f"--time={res['runtime']}", f"--nodes={res['nodes']}", f"--ntasks={tasks}",
            f"--ntasks-per-node={min(per_node, tasks)}", f"--cpus-per-task={res['cpus_per_task']}",
            f"--output={run.jobs.resolve()}/%j.log", f"--chdir={os.getcwd()}"]
    if res.get("mem_mb"):
        args.append(f"--mem={res['mem_mb']}")
    if res.get("constraint"):
        args.append(f"--constraint={res['constraint']}")
    if "slurm_account" in res:
        args.append(f"--account={res['slurm_account']}")
    args += shlex.split(res.get("slurm_extra", ""))  # --signal=USR1@<s>: to the ranks (see cpt.cluster)
    if after:
        args.append(f"--dependency=afterany:{after}")
    job = f"{shlex.quote(sys.executable)} -m cpt.chain {entry} --train-dir {shlex.quote(str(run.train.resolve()))}"
    return [*args, "--wrap", job]


def nodes(config: dict) -> int:
    return math.ceil(world_size(config) / config["slurm"]["launch"]["tasks_per_node"])


def srun_command(config: dict, until_step: int, args: list[str] | None = None) -> list[str]:
    """The trainer's ranks (or `args`, another `-m` module on every rank) inside a chain job's allocation:
    one task per GPU, from the node-local staged environment when slurm.launch.stage_env is set
    (cpt.cluster.rank_launch)."""
    launch = cluster.rank_launch(config, nodes(config), world_size(config), python=shlex.quote(sys.executable))
    return ["bash", "-c", f"{launch} {shlex.join(args or trainer_args(config, until_step))}"]


def submit(config: dict, after: str | None = None, entry: str = "job") -> str:
    """Queue one chain job (after job `after` ends, if given); returns its id."""
    RunDir.of(config).jobs.mkdir(parents=True, exist_ok=True)
    out = subprocess.run(sbatch_command(config, after, entry), capture_output=True, text=True)
    if out.returncode != 0:
        raise ChainError(f"sbatch of the training chain failed: {out.stderr.strip()}")
    return out.stdout.strip().split(";")[0]


def cancel(job_ids: list[str]) -> None:
    if job_ids:
        subprocess.run(["scancel", *job_ids], capture_output=True)
