import copy
import logging
from pathlib import Path

import pytest
import yaml
from snakemake.utils import validate

from cpt import settings

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = str(ROOT / "workflow/schemas/config.schema.yaml")


@pytest.fixture
def config() -> dict:
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    validate(config, SCHEMA)
    return config


def test_reference_experiment_numbers(config):
    s = settings.load(config)
    assert s.global_batch_rows == 64 * 21
    assert s.global_batch_rows * config["data"]["seq_len"] == 11_010_048
    assert s.rows_needed == 500_000 * 1344
    assert s.mixed_shards == -(-s.rows_to_mix // config["data"]["mix"]["rows_per_shard"])
    assert sum(s.shard_rows(i) for i in range(s.mixed_shards)) == s.rows_to_mix
    assert s.weights == pytest.approx({"dclm": .40, "fineweb_edu": .44, "dolma": .03, "zyda": .02,
                                       "stack_v2": .10, "finemath": .01})


@pytest.mark.parametrize("weight", [0, -0.5])
def test_non_positive_weight_names_the_key(config, weight):
    config["data"]["sources"]["dolma"]["weight"] = weight
    with pytest.raises(settings.ConfigError, match=r"data\.sources\.dolma\.weight"):
        settings.load(config)


def test_weights_not_summing_to_one_are_normalized_with_a_warning(config, caplog):
    for source in config["data"]["sources"].values():
        source["weight"] *= 3
    with caplog.at_level(logging.WARNING, logger="cpt"):
        s = settings.load(config)
    assert "normalizing" in caplog.text
    assert sum(s.weights.values()) == pytest.approx(1.0)
    assert s.weights["dclm"] == pytest.approx(0.40)


def test_token_cap_limits_the_mix(config):
    config["data"]["mix"]["max_tokens"] = 8193 * 1000
    assert settings.load(config).rows_to_mix == 1000


@pytest.mark.parametrize("path, value, name", [
    (("data", "mix", "sead"), 1, "sead"),
    (("train", "parallel", "pp"), 2, "pp"),
    (("data", "sources", "dclm", "wieght"), 0.4, "wieght"),
])
def test_schema_rejects_unknown_keys(config, path, value, name):
    node = config
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    with pytest.raises(Exception, match=name):
        validate(config, SCHEMA)


def test_schema_rejects_wrong_types_and_fills_defaults(config):
    bad = copy.deepcopy(config)
    bad["data"]["seq_len"] = "8k"
    with pytest.raises(Exception, match="8k"):
        validate(bad, SCHEMA)
    del config["data"]["mix"]["weighting"]
    validate(config, SCHEMA)
    assert config["data"]["mix"]["weighting"] == "rows"
