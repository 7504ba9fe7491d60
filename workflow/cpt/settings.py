"""Checks the schema cannot express, and the quantities derived from the config.

The schema (workflow/schemas/config.schema.yaml) catches unknown keys and wrong
types; this module catches what needs arithmetic (weights, sizes) and derives
the numbers that fix the DAG up front (how many mixed shards, rows needed).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("cpt")


class ConfigError(ValueError):
    """A config value that is well-typed but unusable; the message names the key."""


@dataclass(frozen=True)
class Settings:
    config: dict
    run_dir: str
    weights: dict[str, float]      # normalized mixture weights per source
    global_batch_rows: int         # sequences per optimizer step, all DP ranks
    rows_needed: int               # packed rows up to the schedule's end (planned_steps)
    rows_to_mix: int               # rows the mix produces (margin and cap applied)
    mixed_shards: int

    @property
    def seq_len(self) -> int:
        return self.config["data"]["seq_len"]

    @property
    def sources(self) -> dict[str, dict]:
        return self.config["data"]["sources"]

    @property
    def tokenizer_path(self) -> Path:
        return Path(self.config["model"]["base_dir"]) / "tokenizer.json"

    def shard_rows(self, shard: int) -> int:
        """Target rows of mixed shard `shard`; all full but the last."""
        rows_per_shard = self.config["data"]["mix"]["rows_per_shard"]
        return min(rows_per_shard, self.rows_to_mix - shard * rows_per_shard)


def normalized_weights(sources: dict[str, dict]) -> dict[str, float]:
    """Mixture weights summing to 1; a non-positive weight is an error, an off sum a warning."""
    for name, source in sources.items():
        if not source["weight"] > 0:
            raise ConfigError(f"data.sources.{name}.weight is {source['weight']}; weights must be > 0 "
                              f"(remove the source to leave it out of the mix)")
    total = sum(source["weight"] for source in sources.values())
    if not math.isclose(total, 1.0, rel_tol=1e-6):
        log.warning("data.sources weights sum to %s, not 1; normalizing them", total)
    return {name: source["weight"] / total for name, source in sources.items()}


def global_batch_rows(config: dict) -> int:
    """Sequences per optimizer step: local batch x every data-parallel rank (TP ranks share rows)."""
    train = config["train"]
    return train["local_batch"] * train["parallel"]["dp_replicate"] * train["parallel"]["dp_shard"]


def planned_steps(config: dict) -> int:
    """Steps the mix is sized for: the LR schedule's end, or train.steps if later. Extending
    train.steps up to the schedule's end (the usual continual-pretraining move) then keeps the
    manifest, so the rows already trained on and the finished segments stay as they are."""
    train = config["train"]
    return max(train["steps"], train.get("schedule", {}).get("decay_end_step", 0))


def load(config: dict) -> Settings:
    mix = config["data"]["mix"]
    batch_rows = global_batch_rows(config)
    rows_needed = planned_steps(config) * batch_rows
    rows_to_mix = math.ceil(rows_needed * (1 + mix["margin"]))
    if mix["max_tokens"] is not None:
        rows_to_mix = min(rows_to_mix, mix["max_tokens"] // (config["data"]["seq_len"] + 1))
        if rows_to_mix < 1:
            raise ConfigError(f"data.mix.max_tokens={mix['max_tokens']} holds no row of "
                              f"data.seq_len+1={config['data']['seq_len'] + 1} tokens; raise it")
    return Settings(
        config=config,
        run_dir=f"{config['results_dir']}/{config['run']}",
        weights=normalized_weights(config["data"]["sources"]),
        global_batch_rows=batch_rows,
        rows_needed=rows_needed,
        rows_to_mix=rows_to_mix,
        mixed_shards=math.ceil(rows_to_mix / mix["rows_per_shard"]),
    )
