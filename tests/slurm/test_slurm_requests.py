"""cpt.cluster: the Slurm request of each rule from config `slurm`, the srun line of the
training segment, and the queue-policy check (unit level; no Slurm needed)."""

import copy

import pytest
from cpt import cluster
from cpt.settings import ConfigError

SRUN = ("srun --nodes=64 --ntasks=512 --ntasks-per-node=8 --cpus-per-task=7 --gpus-per-task=1"
        " --gpu-bind=closest --kill-on-bad-exit=1")


def test_training_segment_asks_extended_64_nodes_24h_with_signal(full_config):
    res = cluster.resources(full_config, "train_segment", tasks=512, environ={"CPT_ACCOUNT": "abc123"})
    assert res == {"slurm_partition": "extended", "runtime": 24 * 60, "nodes": 64, "tasks": 512,
                   "cpus_per_task": 7, "slurm_extra": "--network=disable_rdzv_get --signal=USR1@600",
                   "constraint": "nvme",
                   "slurm_account": "abc123"}


def test_account_only_from_the_environment(full_config):
    assert "slurm_account" not in cluster.resources(full_config, "tokenize", environ={})


def test_data_node_jobs_ask_one_node_and_no_memory(full_config):
    """A tokenize job is one node (its 56 CPUs come from the rule's threads); no --mem: whole nodes."""
    res = cluster.resources(full_config, "tokenize", environ={})
    assert res == {"slurm_partition": "batch", "runtime": 120}   # whole nodes: no --mem


def test_srun_line_one_task_per_gcd(full_config):
    res = {**cluster.resources(full_config, "train_segment", tasks=512, environ={}), "mpi": "srun"}
    config = copy.deepcopy(full_config)
    config["slurm"]["launch"]["stage_env"] = None
    assert cluster.launcher(config, res) == SRUN + " python"


def test_staged_env_is_copied_to_the_nodes_before_the_ranks_start(full_config):
    res = {**cluster.resources(full_config, "train_segment", tasks=512, environ={}), "mpi": "srun"}
    assert cluster.launcher(full_config, res) == (
        f'bash {cluster.STAGE_SCRIPT} "$PROJWORK/$CPT_ACCOUNT/cpt/cpt-train.tar.gz" "/mnt/bb/$USER/cpt-train"'
        f' && {SRUN} "/mnt/bb/$USER/cpt-train/bin/python"')


def test_without_mpi_resource_the_launcher_is_torchrun(full_config):
    res = cluster.resources(full_config, "train_segment", tasks=2, environ={})
    assert cluster.launcher(full_config, res) == "python -m torch.distributed.run --standalone --nproc-per-node 2"


def test_cpu_cluster_launch_has_no_gpu_flags(full_config):
    config = copy.deepcopy(full_config)
    config["slurm"]["launch"].update(tasks_per_node=1, gpus_per_task=0, cpus_per_task=1, extra=[])
    assert cluster.srun_prefix(config, 2, 2) == "srun --nodes=2 --ntasks=2 --ntasks-per-node=1 --cpus-per-task=1"


@pytest.mark.parametrize("partition,nodes,hours", [("batch", 91, 2), ("batch", 92, 6), ("batch", 183, 6),
                                                   ("batch", 184, 12), ("extended", 64, 24), ("extended", 1, 24)])
def test_queue_policy_accepts(full_config, partition, nodes, hours):
    cluster.check_policy(full_config, "r", {"partition": partition, "nodes": nodes, "hours": hours})


@pytest.mark.parametrize("partition,nodes,hours,says", [
    ("batch", 91, 2.5, "exceeds the 2 h"), ("batch", 183, 12, "exceeds the 6 h"),
    ("extended", 65, 24, "65 nodes exceed"), ("extended", 64, 25, "slurm.resources.r.hours=25"),
    ("debug", 1, 1, "partition 'debug' is not in slurm.partitions")])
def test_queue_policy_refuses_with_the_key_to_change(full_config, partition, nodes, hours, says):
    with pytest.raises(ConfigError, match=says):
        cluster.check_policy(full_config, "r", {"partition": partition, "nodes": nodes, "hours": hours})


def test_a_violating_training_request_is_an_error(full_config):
    config = copy.deepcopy(full_config)
    config["train"]["parallel"]["dp_replicate"] = 4   # 1024 ranks: 128 nodes, over extended's 64
    with pytest.raises(ConfigError, match="rule train_segment: 128 nodes exceed partition 'extended'"):
        cluster.resources(config, "train_segment", tasks=1024, environ={})


def test_eval_task_asks_one_gcd_and_its_cores(full_config):
    res = cluster.resources(full_config, "eval_task", environ={})
    assert res == {"slurm_partition": "batch", "runtime": 120, "gpu": 1, "cpus_per_task": 7}
