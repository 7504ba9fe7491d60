"""cpt.train.comm_check: real gloo groups forced onto TCP across "nodes" stop (all ranks together)
with the reason; one node passes; the RCCL rules (NCCL_NET, the loaded plugin) on the report's values."""

import json
from pathlib import Path

import pytest
import torch.distributed as dist

import train_helpers as h
from cpt.train import comm_check

WORKER = str(Path(__file__).with_name("comm_worker.py"))


@pytest.fixture
def gloo_group():
    """A real one-rank gloo group in this process (a 2-rank run below covers stopping together)."""
    dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)
    yield
    dist.destroy_process_group()


def test_gloo_across_nodes_stops_with_the_reason(gloo_group):
    with pytest.raises(comm_check.CommCheckError) as e:
        comm_check.check(require_fabric=True, env={"SLURM_JOB_NUM_NODES": "2"})
    assert "rank 0: 2 nodes on the gloo backend" in str(e.value) and "TCP" in str(e.value)
    assert "network plugin: none loaded" in str(e.value)


def test_one_node_or_gloo_by_default_passes(gloo_group):
    one = comm_check.check(require_fabric=True, env={"SLURM_JOB_NUM_NODES": "1"})
    assert one.nodes == 1 and one.plugins == () and one.library == "gloo"
    default = comm_check.check(env={"SLURM_JOB_NUM_NODES": "2"})   # what training on CPU does
    assert "gloo (gloo, HIP None) on 1 ranks / 2 nodes" in default.line()


def test_one_failing_rank_stops_the_others_too(tmp_path):
    procs = h.start(2, [WORKER, "1", "1", "2"], tmp_path)   # rank 0 alone sees one node
    assert h.wait(procs, tmp_path, timeout=120) == [3, 3]
    out = [json.loads((tmp_path / f"rank{r}.log").read_text().strip().splitlines()[-1]) for r in range(2)]
    assert "another rank's stack" in out[0]["error"] and "rank 1: 2 nodes" in out[1]["error"]


def report(**kw) -> comm_check.CommReport:
    base = dict(backend="nccl", world_size=512, nodes=64, library="RCCL 2.22.3", hip="7.1", net="OFI",
                plugins=("/opt/rccl-net-plugin/lib/librccl-net.so",))
    return comm_check.CommReport(**{**base, **kw})


def test_rccl_with_the_plugin_and_ofi_passes():
    assert comm_check.problems(report(), True) == []
    assert comm_check.problems(report(net="AWS Libfabric"), True) == []
    assert comm_check.problems(report(net="Libfabric"), True) == []     # aws-ofi-nccl's default name
    assert comm_check.problems(report(nodes=1, net="Socket", plugins=()), True) == []


@pytest.mark.parametrize("net, plugins, expected", [
    (None, ("/x/librccl-net.so",), ["NCCL_NET=None"]),
    ("Socket", ("/x/librccl-net.so",), ["NCCL_NET=Socket"]),
    ("OFI", (), ["module load rccl-net-plugin"]),
    (None, (), ["NCCL_NET=None", "module load rccl-net-plugin"]),
])
def test_rccl_that_could_use_sockets_is_refused(net, plugins, expected):
    found = comm_check.problems(report(net=net, plugins=plugins), True)
    assert len(found) == len(expected) and all(e in f for e, f in zip(expected, found))


def test_plugin_found_in_the_process_maps(tmp_path):
    maps = tmp_path / "maps"
    maps.write_text("7f00-7f10 r-xp 00000000 00:2c 1 /usr/lib64/libfabric.so.1\n"
                    "7f20-7f30 r-xp 00000000 00:2c 2 /sw/frontier/rccl-net-plugin/1.0/lib/librccl-net.so\n")
    assert comm_check.loaded_plugins(maps) == ("/sw/frontier/rccl-net-plugin/1.0/lib/librccl-net.so",)
    assert comm_check.loaded_plugins() == ()   # this CPU process has none


def test_node_count_from_slurm_then_torchrun():
    assert comm_check.node_count({"SLURM_STEP_NUM_NODES": "64", "SLURM_JOB_NUM_NODES": "65"}, 512) == 64
    assert comm_check.node_count({"LOCAL_WORLD_SIZE": "8"}, 16) == 2
    assert comm_check.node_count({}, 4) == 1
