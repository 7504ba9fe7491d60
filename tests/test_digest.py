"""Config digests: layout and operational edits keep the training digest; result-changing edits move it."""

import copy
from pathlib import Path

import pytest
from cpt.digest import config_digest, same_training, training_digest, training_keys
from cpt.checks.config import load_config

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def config() -> dict:
    return load_config([str(ROOT / "config.yaml")])


def edited(config: dict, dotted: str, value) -> dict:
    config = copy.deepcopy(config)
    *parents, last = dotted.split(".")
    node = config
    for part in parents:
        node = node[part]
    node[last] = value
    return config


@pytest.mark.parametrize("key,value", [
    ("train.log_interval", 7), ("train.resubmits", 9), ("train.checkpoint.keep_last", 5),
    ("train.compile", False), ("train.parallel.tp", 4), ("eval.batch_size", 4), ("train.steps", 600000),
    ("train.continue_from", 3500), ("train.chain", {"poll_seconds": 5}), ("slurm.resources.train_segment.hours", 12),
    ("data.sources.stack_v2.content_fetch.requests_per_second", 2000),
    ("data.sources.stack_v2.content_fetch.in_flight", 512),
])
def test_how_edits_keep_the_training_digest(config, key, value):
    changed = edited(config, key, value)
    assert training_digest(changed) == training_digest(config)
    assert config_digest(changed) != config_digest(config)


@pytest.mark.parametrize("key,value", [
    ("train.optimizer.lr", 1e-5), ("train.seed", 1), ("data.seq_len", 4096), ("train.local_batch", 20),
    ("train.parallel.dp_shard", 16), ("data.mix.seed", 7), ("train.param_dtype", "float32"),
    ("train.schedule", {"warmup_steps": 500, "decay_end_step": 600000}), ("train.optimizer.betas", [0.9, 0.99]),
    ("data.sources.stack_v2.content_fetch.documents", "repo"),
])
def test_what_edits_change_the_training_digest(config, key, value):
    assert training_digest(edited(config, key, value)) != training_digest(config)


def test_mesh_change_that_keeps_the_global_batch_keeps_the_digest(config):
    swapped = edited(edited(config, "train.parallel.dp_shard", 64), "train.parallel.dp_replicate", 1)
    assert training_digest(swapped) == training_digest(config)


def test_extending_steps_within_the_schedule_keeps_the_mix(config):
    """The mix is sized to the schedule's end, so a longer run reads the same manifest (same rows)."""
    from cpt.settings import load

    shorter = edited(config, "train.steps", 200_000)
    assert load(shorter).rows_needed == load(config).rows_needed == 500_000 * load(config).global_batch_rows
    longer = edited(config, "train.steps", 600_000)
    assert load(longer).rows_needed == 600_000 * load(config).global_batch_rows


def test_a_redefined_digest_is_not_taken_for_an_edit(config):
    """Keys recorded before the fetch rate stopped counting (run.json of an older run) still describe
    the same training; an edit that changes what is fetched does not."""
    recorded = copy.deepcopy(training_keys(config))
    recorded["data.sources"]["stack_v2"]["content_fetch"] = {
        **config["data"]["sources"]["stack_v2"]["content_fetch"], "workers": 16}   # as the old definition kept it
    assert same_training(recorded, config)
    assert not same_training(recorded, edited(config, "data.sources.stack_v2.content_fetch.documents", "repo"))


def test_a_run_recorded_before_mix_blocks_mixed_single_documents(config):
    """Keys recorded before data.mix.block_documents existed describe a shuffle of single documents:
    the same training as block_documents 1, an edit against blocks of 256."""
    recorded = copy.deepcopy(training_keys(edited(config, "data.mix.block_documents", 1)))
    del recorded["data.mix.block_documents"]
    assert same_training(recorded, edited(config, "data.mix.block_documents", 1))
    assert not same_training(recorded, edited(config, "data.mix.block_documents", 256))
