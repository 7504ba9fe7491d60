"""TrainConfig's defaults are the schema's: the trainer behaves the same whether Snakemake filled
the defaults in or a test (or a person running python -m cpt.train) passed a partial section."""

import dataclasses

import pytest
import yaml

from cpt.checks.schema import SCHEMA
from cpt.train.config import TrainConfig

TRAIN_SCHEMA = yaml.safe_load(SCHEMA.read_text())["properties"]["train"]["properties"]


def dataclass_defaults(kind) -> dict:
    """Each field's default (a nested dataclass by its own fields); fields without one are left out."""
    out = {}
    for f in dataclasses.fields(kind):
        if f.default is not dataclasses.MISSING:
            value = f.default
        elif f.default_factory is not dataclasses.MISSING:
            value = f.default_factory()
        else:
            continue
        out[f.name] = dataclass_defaults(value) if dataclasses.is_dataclass(value) else value
    return out


def schema_defaults(properties: dict) -> dict:
    out = {}
    for name, spec in properties.items():
        if "properties" in spec:   # an object's own default ({}) is filled from its properties'
            out[name] = schema_defaults(spec["properties"])
        elif "default" in spec:
            out[name] = spec["default"]
    return out


def flat(tree: dict, prefix: str = "train") -> dict:
    items = {}
    for key, value in tree.items():
        if isinstance(value, dict) and value:
            items.update(flat(value, f"{prefix}.{key}"))
        else:
            items[f"{prefix}.{key}"] = list(value) if isinstance(value, tuple) else value
    return items


TRAINER, SCHEMA_DEFAULTS = flat(dataclass_defaults(TrainConfig)), flat(schema_defaults(TRAIN_SCHEMA))


@pytest.mark.parametrize("key", sorted(set(TRAINER) & set(SCHEMA_DEFAULTS)))
def test_trainer_default_equals_the_schemas(key):
    assert TRAINER[key] == SCHEMA_DEFAULTS[key], f"{key}: TrainConfig {TRAINER[key]!r}, schema {SCHEMA_DEFAULTS[key]!r}"


def test_every_trainer_default_is_in_the_schema():
    """A default only the trainer knows would differ between a Snakemake run and a hand-run trainer."""
    unmatched = sorted(k for k in TRAINER if k not in SCHEMA_DEFAULTS and TRAINER[k] not in (None, {}))
    assert not unmatched, f"trainer defaults the schema lacks: {unmatched}"
