"""The training mesh against the Slurm request: ranks fill whole nodes, every GCD gets a
rank, tensor-parallel groups stay inside a node; and every rule's request fits the queue.

Frontier charges whole nodes, so a mesh that leaves GCDs idle wastes them for the
whole run; a TP group split across nodes runs its per-layer all-reduces over the
network instead of Infinity Fabric. A single-node mesh smaller than a node (tests,
the demo) is legal: it is a warning.
"""

from __future__ import annotations

import math

from cpt import cluster
from cpt.checks.findings import Findings
from cpt.settings import ConfigError

TRAIN_RULE = "train_segment"


def divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def _nearest_filling(par: dict, per_node: int) -> list[int]:
    """dp_shard values below and above the configured one whose mesh fills whole nodes."""
    other = par["dp_replicate"] * par["tp"]
    fits = [d for d in range(1, 4 * par["dp_shard"] + 1) if (other * d) % per_node == 0]
    below = [d for d in fits if d < par["dp_shard"]][-1:]
    above = [d for d in fits if d > par["dp_shard"]][:1]
    return below + above


def check_mesh(config: dict, findings: Findings) -> None:
    par, launch, node = config["train"]["parallel"], config["slurm"]["launch"], config["slurm"]["node"]
    per_node, ranks = launch["tasks_per_node"], math.prod(par.values())
    if launch["gpus_per_task"] and node["gcds"] and per_node * launch["gpus_per_task"] != node["gcds"]:
        findings.error("slurm.launch.tasks_per_node", per_node,
                       f"tasks_per_node x gpus_per_task ({launch['gpus_per_task']}) must equal slurm.node.gcds="
                       f"{node['gcds']}: nodes are charged whole, every GCD needs a rank",
                       f"set tasks_per_node: {node['gcds'] // launch['gpus_per_task']}")
    mesh = f"{par['dp_replicate']} x {par['dp_shard']} x {par['tp']} = {ranks} ranks"
    if ranks < per_node:
        findings.warn("train.parallel", mesh, f"one node runs {per_node} tasks; {per_node - ranks} would sit idle",
                      "fine for a test run; a production mesh fills whole nodes")
        return
    if ranks % per_node:
        nodes = math.ceil(ranks / per_node)
        findings.error("train.parallel", mesh,
                       f"ranks must fill whole nodes of slurm.launch.tasks_per_node={per_node}: {nodes} nodes "
                       f"would leave {nodes * per_node - ranks} GCDs idle for the whole run",
                       f"set train.parallel.dp_shard to {' or '.join(map(str, _nearest_filling(par, per_node)))}")
    if per_node % par["tp"]:
        findings.error("train.parallel.tp", par["tp"],
                       f"a tensor-parallel group must sit inside one node of slurm.launch.tasks_per_node={per_node} "
                       f"ranks, or its per-layer all-reduces cross the network",
                       f"set tp to a divisor of {per_node}: {', '.join(map(str, divisors(per_node)))}")


def check_requests(config: dict, findings: Findings) -> None:
    """Every rule's request (slurm.resources, over default) against slurm.partitions, all at once
    (the rules without an entry ask for `default`)."""
    ranks, partitions = math.prod(config["train"]["parallel"].values()), config["slurm"]["partitions"]
    for rule in sorted({TRAIN_RULE, *config["slurm"]["resources"]}):
        try:
            req = cluster.request(config, rule, ranks if rule == TRAIN_RULE else None)
        except ConfigError as err:  # partition or hours unset: the message names the key
            findings.error_from(err)
            continue
        try:
            cluster.check_policy(config, rule, req)
        except ConfigError as err:
            findings.error_from(err, key=_policy_key(rule, req, partitions))


def _policy_key(rule: str, req: dict, partitions: dict) -> str:
    """The key a refused request is fixed at: its partition, its size (the mesh, for training) or its hours."""
    if req["partition"] not in partitions:
        return f"slurm.resources.{rule}.partition"
    if req.get("nodes", 1) > max(b["max_nodes"] for b in partitions[req["partition"]]):
        return "train.parallel" if rule == TRAIN_RULE else f"slurm.resources.{rule}.nodes"
    return f"slurm.resources.{rule}.hours"


def check(config: dict, findings: Findings) -> None:
    check_mesh(config, findings)
    check_requests(config, findings)
