"""The `train:` section of the config as typed data (schema: workflow/schemas/config.schema.yaml).

Defaults mirror the schema's so the trainer behaves the same whether Snakemake
filled them in or a test passed a partial section.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from pathlib import Path

import yaml

# What activation checkpointing keeps: nothing recomputed, every k-th block (torchtitan's layer-wise
# selective AC), or every block.
AC_MODES = ("none", "selective", "full")


def checkpointed_blocks(mode: str, every: int, layers: int) -> list[int]:
    """Indices of the blocks that recompute their forward in backward. Selective takes blocks k-1,
    2k-1, ... as torchtitan's counter does; the planner's memory model charges the same ones."""
    step = {"none": 0, "selective": every, "full": 1}[mode]
    return [i for i in range(layers) if step and (i + 1) % step == 0]


def loss_chunk_local_tokens(chunk_tokens: int, tp: int) -> int:
    """Tokens of one loss chunk on each rank of a TP group (cpt.train.loss): train.loss_chunk_tokens
    counts the chunk's tokens over the group. Here, beside the config, so the planner charges the
    same chunk at dry run without importing torch."""
    return max(1, chunk_tokens // tp)


@dataclass(frozen=True)
class OptimizerConfig:
    lr: float = 3.0e-5
    betas: tuple[float, float] = (0.9, 0.95)
    eps: float = 1.0e-8
    weight_decay: float = 0.1
    grad_clip: float = 1.0


@dataclass(frozen=True)
class ScheduleConfig:
    warmup_steps: int = 500
    decay_end_step: int = 500000


@dataclass(frozen=True)
class CheckpointConfig:
    interval: int = 500
    keep_last: int = 2
    keep_every: int = 3500
    weights_only_older: bool = False   # see cpt.train.retention


@dataclass(frozen=True)
class TrainConfig:
    steps: int
    steps_per_segment: int
    local_batch: int
    micro_batch: int | None = None  # rows per forward/backward; None: the whole local batch in one pass
    loss_chunk_tokens: int = 8192  # tokens per chunk of the loss (cpt.train.loss): bounds its working set
    parallel: dict = field(default_factory=lambda: {"dp_replicate": 1, "dp_shard": 1, "tp": 1})
    seed: int = 0
    compile: bool = False
    activation_checkpointing: str = "none"  # none | selective | full
    activation_checkpointing_every: int = 2  # selective: every k-th block recomputes its forward in backward
    param_dtype: str = "float32"
    reduce_dtype: str = "float32"
    attention: str = "auto"  # auto | gqa | repeat_kv: what cpt.train.attention does when fused SDPA refuses GQA
    optimizer: OptimizerConfig = OptimizerConfig()
    schedule: ScheduleConfig = ScheduleConfig()
    checkpoint: CheckpointConfig = CheckpointConfig()
    log_interval: int = 10
    # Read by the chain (cpt.chain) and the rerun check (cpt.rundir.lineage), not by the loop;
    # listed so the trainer knows every key of the section.
    resubmits: int = 3
    continue_from: int | None = None
    chain: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.activation_checkpointing not in AC_MODES:
            raise ValueError(f"train.activation_checkpointing={self.activation_checkpointing!r}; pick one of "
                             f"{list(AC_MODES)}")
        if self.activation_checkpointing_every < 1:
            raise ValueError(f"train.activation_checkpointing_every={self.activation_checkpointing_every}; "
                             "it must be >= 1 (1: every block, as full)")
        if self.micro_batch is None:
            object.__setattr__(self, "micro_batch", self.local_batch)
        if self.micro_batch < 1 or self.local_batch % self.micro_batch:
            divisors = [d for d in range(1, self.local_batch + 1) if self.local_batch % d == 0]
            raise ValueError(f"train.micro_batch={self.micro_batch} does not divide train.local_batch="
                             f"{self.local_batch}; pick one of {divisors} (gradients accumulate over "
                             "local_batch / micro_batch passes, so the global batch stays the same)")

    @classmethod
    def from_dict(cls, section: dict) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(section) - known)
        if unknown:
            raise ValueError(f"train: unknown keys {unknown}; known keys are {sorted(known)}")
        values = dict(section)
        nested = {"optimizer": OptimizerConfig, "schedule": ScheduleConfig, "checkpoint": CheckpointConfig}
        for key, kind in nested.items():
            if key in values:
                try:
                    values[key] = kind(**values[key])
                except TypeError as err:
                    raise ValueError(f"train.{key}: {err}") from err
        values["parallel"] = {"dp_replicate": 1, "dp_shard": 1, "tp": 1, **section.get("parallel", {})}
        return cls(**values)

    def segment_end(self, segment: int) -> int:
        """Last step of segment `segment` (1-based): the chain's DAG is fixed by this."""
        return min(segment * self.steps_per_segment, self.steps)

    @property
    def segments(self) -> int:
        return -(-self.steps // self.steps_per_segment)

    def segment_ends(self) -> list[int]:
        """The last step of every segment, in order: the training chain's Snakemake outputs."""
        return [self.segment_end(k) for k in range(1, self.segments + 1)]

    def protected_steps(self) -> set[int]:
        """Steps retention never deletes: step 0 and every segment end (Snakemake outputs)."""
        return {0, *self.segment_ends()}


def load_train_config(text_or_path: str) -> TrainConfig:
    """A train section from a YAML/JSON file, or an inline JSON object (what the rule passes)."""
    inline = text_or_path.lstrip().startswith("{")
    # json for inline text: YAML 1.1 reads json.dumps' "1e-08" as a string.
    data = json.loads(text_or_path) if inline else yaml.safe_load(Path(text_or_path).read_text())
    if isinstance(data, dict) and "train" in data:
        data = data["train"]
    if not isinstance(data, dict):
        raise ValueError(f"--train-config {text_or_path[:80]!r}: expected a mapping (the train: section)")
    return TrainConfig.from_dict(data)
