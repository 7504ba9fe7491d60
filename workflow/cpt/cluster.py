"""What each rule asks Slurm for, from config `slurm`: executor resources, the srun
line of rules that start their own tasks, and the queue-policy check.

The numbers live in config.yaml (Frontier's policy and node facts change); this
module only turns them into the plugin's resource names and flags, so tests and
the planner see the exact request a Frontier job gets, and a request that breaks
the queue policy stops the workflow before anything is submitted.
"""

from __future__ import annotations

import math
import os
import shlex
from pathlib import Path

from cpt.settings import ConfigError

STAGE_SCRIPT = Path(__file__).with_name("stage-env.sh")


def request(config: dict, rule: str, tasks: int | None = None) -> dict:
    """The rule's entry of slurm.resources over `default`; rules with tasks get whole nodes for them.

    Without `nodes` the job is one node's worth: grouped data jobs must not carry it, since
    Snakemake sums resources over a group's jobs."""
    table = config["slurm"]["resources"]
    req = {**table.get("default", {}), **table.get(rule, {})}
    if tasks is not None:
        req["nodes"] = math.ceil(tasks / config["slurm"]["launch"]["tasks_per_node"])
    for key in ("partition", "hours"):
        if key not in req:
            raise ConfigError(f"slurm.resources.{rule}.{key} is not set (nor in slurm.resources.default); add it")
    return req


def walltime_limit(partitions: dict, partition: str, nodes: int) -> float:
    """Hours allowed for `nodes` nodes on `partition`: the first node-count bin that holds them."""
    if partition not in partitions:
        raise ConfigError(f"partition {partition!r} is not in slurm.partitions ({', '.join(partitions)}); "
                          f"add its policy there or pick one of those")
    for bin_ in partitions[partition]:
        if nodes <= bin_["max_nodes"]:
            return bin_["max_hours"]
    largest = max(b["max_nodes"] for b in partitions[partition])
    raise ConfigError(f"{nodes} nodes exceed partition {partition!r}'s limit of {largest} "
                      f"(slurm.partitions.{partition}); use fewer nodes or another partition")


def partition_policy(config: dict, req: dict) -> dict:
    """The partitions a request is checked against: its own Slurm cluster's (sbatch -M), else the main one's."""
    if "cluster" not in req:
        return config["slurm"]["partitions"]
    clusters = config["slurm"].get("clusters", {})
    if req["cluster"] not in clusters:
        raise ConfigError(f"cluster {req['cluster']!r} is not in slurm.clusters ({', '.join(clusters) or 'none'}); "
                          "add its partitions' policy there")
    return clusters[req["cluster"]]["partitions"]


def check_policy(config: dict, rule: str, req: dict) -> None:
    """Raise if the request breaks the queue policy in slurm.partitions (or slurm.clusters), naming the key."""
    try:
        limit = walltime_limit(partition_policy(config, req), req["partition"], req.get("nodes", 1))
    except ConfigError as e:
        raise ConfigError(f"rule {rule}: {e}") from None
    if req["hours"] > limit:
        raise ConfigError(f"rule {rule}: slurm.resources.{rule}.hours={req['hours']} exceeds the {limit} h "
                          f"allowed for {req.get('nodes', 1)} nodes on {req['partition']!r} (slurm.partitions); "
                          f"lower the hours (and train.steps_per_segment) or change the partition")


def resources(config: dict, rule: str, tasks: int | None = None, environ=os.environ) -> dict:
    """Snakemake resources of a rule for snakemake-executor-plugin-slurm (checked against the policy)."""
    req = request(config, rule, tasks)
    check_policy(config, rule, req)
    res = {"slurm_partition": req["partition"], "runtime": round(req["hours"] * 60)}
    if req.get("constraint"):
        res["constraint"] = req["constraint"]   # the plugin refuses -C in slurm_extra
    if "cluster" in req:
        res["slurm_cluster"] = req["cluster"]   # sbatch --clusters: e.g. OLCF's data-transfer nodes
    if "nodes" in req:
        res["nodes"] = req["nodes"]
    if "mem_gb" in req:
        res["mem_mb"] = round(req["mem_gb"] * 1024)
    if "gpus" in req:
        res["gpu"] = req["gpus"]
    if "cpus" in req:
        res["cpus_per_task"] = req["cpus"]
    if tasks is not None:
        res["tasks"] = tasks
        res["cpus_per_task"] = config["slurm"]["launch"]["cpus_per_task"]
    extra = list(req.get("sbatch", []))
    if "signal_seconds" in req:
        # To the job's steps (the srun'd ranks), not B: the batch shell: the plugin's batch
        # script is `sh` running snakemake, which a batch-shell USR1 would kill.
        extra.append(f"--signal=USR1@{req['signal_seconds']}")
    if extra:
        res["slurm_extra"] = " ".join(extra)
    account = environ.get(config["slurm"]["account_env"])
    if account:
        res["slurm_account"] = account
    return res


def srun_prefix(config: dict, nodes: int, tasks: int) -> str:
    """srun flags for one task per GPU: the launch prefix inside a Slurm allocation."""
    launch = config["slurm"]["launch"]
    flags = [f"--nodes={nodes}", f"--ntasks={tasks}", f"--ntasks-per-node={launch['tasks_per_node']}",
             f"--cpus-per-task={launch['cpus_per_task']}"]
    if launch["gpus_per_task"]:
        flags.append(f"--gpus-per-task={launch['gpus_per_task']}")
        if launch["gpu_bind"]:
            flags.append(f"--gpu-bind={launch['gpu_bind']}")
    return shlex.join(["srun", *flags, *launch["extra"]])


def rank_launch(config: dict, nodes: int, tasks: int, python: str = "python") -> str:
    """The shell line that starts one rank per GPU running `python`. With slurm.launch.stage_env, the
    job first copies a packed environment to every node's local storage and the ranks run its python
    (paths in double quotes: $USER etc. expand in the job)."""
    srun = srun_prefix(config, nodes, tasks)
    stage = config["slurm"]["launch"].get("stage_env")
    if stage:
        return f'bash {STAGE_SCRIPT} "{stage["pack"]}" "{stage["dest"]}" && {srun} "{stage["dest"]}/bin/python"'
    return f"{srun} {python}"


def launcher(config: dict, resources: dict) -> str:
    """How a multi-rank rule starts `python`: srun when a Slurm profile sets the `mpi`
    resource (the plugin then leaves task launch to the rule), torchrun otherwise."""
    tasks = resources["tasks"]
    if resources.get("mpi"):
        return rank_launch(config, resources["nodes"], tasks)
    return f"python -m torch.distributed.run --standalone --nproc-per-node {tasks}"
