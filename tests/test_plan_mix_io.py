"""The mix_shard job's read time, from its read count and Orion's per-read latency and bandwidth."""

import copy
from pathlib import Path

import pytest

from cpt.data.extents import READS_IN_FLIGHT
from cpt.plan.mix_io import mix_shard_read_hours
from cpt.checks.config import load_config

REFERENCE = str(Path(__file__).parents[1] / "config.yaml")


def test_reads_are_priced_by_latency_in_flight_and_bandwidth():
    """A shuffle of single documents (block_documents: 1): latency-bound, hours per shard."""
    config = load_config([REFERENCE])
    config["data"]["mix"]["block_documents"] = 1
    io = config["slurm"]["planner"]["mix_io"]
    assert (io["reads_per_document"], io["read_latency_ms"], io["read_gb_per_s"]) == (1.7, 10, 1.0)
    hours = mix_shard_read_hours(config, 1_048_576, 1000.0)
    documents = 1_048_576 * 8193 / 1000  # reference rows of seq_len + 1 tokens
    latency_s, bandwidth_s = documents * 1.7 * 0.010 / READS_IN_FLIGHT, documents * 2.0 * 4000 / 1e9
    assert hours == pytest.approx((latency_s + bandwidth_s) / 3600)
    assert 2 < hours < 3  # latency-bound, ~16x the bandwidth term
    slower = copy.deepcopy(config)
    slower["slurm"]["planner"]["mix_io"]["read_latency_ms"] = 20
    assert mix_shard_read_hours(slower, 1_048_576, 1000.0) == pytest.approx((2 * latency_s + bandwidth_s) / 3600)


def test_blocks_of_documents_price_a_few_reads_per_block():
    """The reference's blocks of 256 documents: ~2.1 reads per block, minutes per shard, not hours;
    blocks too small to save a read cost no more than single documents."""
    config = load_config([REFERENCE])
    assert config["data"]["mix"]["block_documents"] == 256
    documents = 1_048_576 * 8193 / 1000
    latency_s = documents * 2.1 / 256 * 0.010 / READS_IN_FLIGHT
    bandwidth_s = documents * 2.0 * 4000 / 1e9
    hours = mix_shard_read_hours(config, 1_048_576, 1000.0)
    assert hours == pytest.approx((latency_s + bandwidth_s) / 3600)
    assert hours < 0.05
    config["data"]["mix"]["block_documents"] = 1  # 2.1 reads for one document: capped at reads_per_document
    single = mix_shard_read_hours(config, 1_048_576, 1000.0)
    assert single == pytest.approx((documents * 1.7 * 0.010 / READS_IN_FLIGHT + bandwidth_s) / 3600)
    assert single > 40 * hours
