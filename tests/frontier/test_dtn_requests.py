"""Bulk downloads go to OLCF's data-transfer nodes (another Slurm cluster), checked against
that cluster's own policy (slurm.clusters.dtn), not Frontier's batch bins."""

import copy

import pytest
from cpt import cluster
from cpt.settings import ConfigError


def test_download_source_asks_the_dtn_cluster_for_a_day(full_config):
    res = cluster.resources(full_config, "download_source", environ={})
    assert res == {"slurm_partition": "batch", "runtime": 24 * 60, "slurm_cluster": "dtn"}


def test_dtn_policy_is_its_own(full_config):
    config = copy.deepcopy(full_config)
    config["slurm"]["resources"]["download_source"]["hours"] = 25
    with pytest.raises(ConfigError, match="download_source.hours=25 exceeds the 24 h allowed for 1 nodes on 'batch'"):
        cluster.resources(config, "download_source", environ={})
    config["slurm"]["resources"]["download_source"]["cluster"] = "archive"
    with pytest.raises(ConfigError, match="cluster 'archive' is not in slurm.clusters \\(dtn\\)"):
        cluster.resources(config, "download_source", environ={})


def test_a_download_job_only_while_files_are_missing(tmp_path):
    from cpt.data.listing import needs_download

    hub = {"local_dir": str(tmp_path / "fw"), "glob": "**/*.parquet", "hub": {"repo_id": "x/y"}}
    assert needs_download(hub)
    (tmp_path / "fw/data").mkdir(parents=True)
    (tmp_path / "fw/data/0.parquet").touch()
    assert not needs_download(hub)
    stack = {"local_dir": str(tmp_path / "st"), "glob": "contents/**/*.jsonl.gz",
             "content_fetch": {"ids_glob": "data/*.parquet"}}
    (tmp_path / "st/data").mkdir(parents=True)
    (tmp_path / "st/data/a.parquet").touch()
    assert needs_download(stack)   # smol-ids there, contents not fetched
    (tmp_path / "st/contents/data").mkdir(parents=True)
    (tmp_path / "st/contents/data/a.jsonl.gz").touch()
    assert not needs_download(stack)
