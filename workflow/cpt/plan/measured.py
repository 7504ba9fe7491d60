"""Seconds per step and memory measured on a GPU by benchmarks/gpu_train.py (its --json), for the plan.

The benchmark trains one GPU with the trainer's own path. Its figures stand in for the
planner's only where they describe what the run will do:

- The model shape, seq_len, dtypes, activation checkpointing and compile must equal the
  config's; otherwise the file is refused, not scaled. Throughput per token and memory per
  token both change with the shape (MFU differs between a 1B and an 8B model on the same
  GPU; attention's share grows with the context), so a 1B figure carried to an 8B plan by
  FLOPs would be a guess printed as a measurement.
- Step time: the benchmark's tokens/s per GPU, over the run's tokens per GCD per step. One
  GPU has no tensor- or data-parallel communication, so the figure leaves that out (the
  plan says so); an earlier run's own metrics.jsonl, when there is one, takes precedence.
- Memory: the measured peak (torch.cuda.max_memory_allocated) is the plan's only where the
  per-GCD layout is the benchmark's (one rank, no TP, the same rows per pass). Elsewhere it
  checks the memory model at the benchmark's own layout, and the plan's figure stays modelled.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

from cpt.plan.memory import memory_per_gcd
from cpt.settings import ConfigError

FORMAT = "cpt.gpu_train/1"
# What changes a step's time and memory per token: must be the same in the benchmark and the config.
SHAPE_KEYS = ("hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads",
              "vocab_size", "tie_word_embeddings")
TRAIN_KEYS = ("param_dtype", "reduce_dtype", "activation_checkpointing", "compile")
FIELDS = {"format": str, "gpu": str, "torch": str, "shape": str, "hf_config": dict, "seq_len": int,
          "local_batch": int, "parallel": dict, "train": dict, "seconds_per_step": (int, float),
          "memory_per_gpu_gb": (int, float)}
MEMORY_TARGET = 0.15  # the target for the memory model against a measurement


def load(path: Path) -> dict:
    """The benchmark's record, with every field the planner reads checked (a ConfigError names the field)."""
    fix = "write it again with `python benchmarks/gpu_train.py --json FILE` (or bash benchmarks/gpu_checks.sh)"
    try:
        record = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: GPU benchmark file not found; {fix}") from None
    except json.JSONDecodeError as err:
        raise ConfigError(f"{path} is not valid JSON ({err}); {fix}") from None
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        found = record.get("format") if isinstance(record, dict) else type(record).__name__
        raise ConfigError(f"{path}: field 'format' is {found!r}, expected {FORMAT!r} (not a benchmarks/gpu_train.py "
                          f"result, or an older one); {fix}")
    for name, kind in FIELDS.items():
        value = record.get(name)
        if not isinstance(value, kind) or isinstance(value, bool):
            raise ConfigError(f"{path}: field {name!r} is {value!r}, expected {_kind(kind)}; {fix}")
    for name in ("seconds_per_step", "memory_per_gpu_gb", "seq_len", "local_batch"):
        if not record[name] > 0:
            raise ConfigError(f"{path}: field {name!r} is {record[name]!r}, expected > 0; {fix}")
    return record


def _kind(kind) -> str:
    return "a number" if isinstance(kind, tuple) else {str: "a string", dict: "an object", int: "an integer"}[kind]


def mismatches(record: dict, config: dict, shape: dict) -> list[str]:
    """'field: benchmark X, config Y' for every setting that makes the benchmark another run."""
    found = [f"{key}: benchmark {record['hf_config'].get(key, False)}, config {shape.get(key, False)}"
             for key in SHAPE_KEYS if record["hf_config"].get(key, False) != shape.get(key, False)]
    if record["seq_len"] != config["data"]["seq_len"]:
        found.append(f"seq_len: benchmark {record['seq_len']}, config data.seq_len {config['data']['seq_len']}")
    found += [f"{key}: benchmark {record['train'].get(key)}, config train.{key} {config['train'][key]}"
              for key in TRAIN_KEYS if record["train"].get(key) != config["train"][key]]
    return found


def benchmark_layout(config: dict, record: dict) -> dict:
    """The config as the benchmark ran it: its ranks, its rows per pass, one pass per step."""
    at = copy.deepcopy(config)
    at["train"].update(parallel=record["parallel"], local_batch=record["local_batch"], micro_batch=None)
    return at


def same_layout(config: dict, record: dict) -> bool:
    """The run's ranks and rows per pass are the benchmark's, in one pass per step (so no earlier
    micro-batch's gradients that the benchmark never held)."""
    train = config["train"]
    rows = train.get("micro_batch") or train["local_batch"]
    return train["parallel"] == record["parallel"] and rows == train["local_batch"] == record["local_batch"]


def gpus(parallel: dict) -> int:
    return parallel["dp_replicate"] * parallel["dp_shard"] * parallel["tp"]


def tokens_per_gpu(parallel: dict, local_batch: int, seq_len: int) -> float:
    """Tokens one GPU trains per step: a DP rank's local batch, its work split over the TP group."""
    return local_batch * seq_len / parallel["tp"]


def apply(record: dict, path: Path, config: dict, shape: dict) -> dict:
    """The plan's `gpu_benchmark`: step time for the run's layout, and memory measured vs modelled.
    A benchmark of another shape or recipe is a ConfigError listing every difference."""
    differ = mismatches(record, config, shape)
    if differ:
        raise ConfigError(
            f"{path}: the GPU benchmark ran another model or recipe than this config ({'; '.join(differ)}). "
            "Its seconds per step and memory are not scaled to another shape: MFU and memory per token change "
            "with the shape, so a scaled figure would be a guess labelled as a measurement. Run "
            "benchmarks/gpu_train.py at the config's shape and settings (--shape, --seq-len), or plan without it "
            "(drop --measured / slurm.planner.gpu_benchmark)")
    par = config["train"]["parallel"]
    rate = tokens_per_gpu(record["parallel"], record["local_batch"], record["seq_len"]) / record["seconds_per_step"]
    modelled_there = memory_per_gcd(benchmark_layout(config, record), shape)["total"]
    return {
        "file": str(path), "gpu": record["gpu"], "shape": record["shape"], "torch": record["torch"],
        "gpus": gpus(record["parallel"]), "local_batch": record["local_batch"], "seq_len": record["seq_len"],
        "tokens_per_s_per_gpu": rate,
        "seconds_per_step": tokens_per_gpu(par, config["train"]["local_batch"], config["data"]["seq_len"]) / rate,
        "memory_gb": record["memory_per_gpu_gb"], "memory_modelled_gb": modelled_there,
        "memory_model_error": modelled_there / record["memory_per_gpu_gb"] - 1,
        "same_layout": same_layout(config, record),
    }


def label(bench: dict) -> str:
    """Where a measured figure comes from, in one line: file, GPU, shape and layout."""
    return (f"measured: {bench['file']}, {bench['gpu']}, {bench['shape']}, {bench['local_batch']} x "
            f"{bench['seq_len']} tokens on {bench['gpus']} GPU")


def warnings(bench: dict, config: dict) -> list[str]:
    """What a one-GPU measurement leaves out of the plan, and a memory model off its target."""
    found, gcds = [], gpus(config["train"]["parallel"])
    if gcds > bench["gpus"]:
        found.append(f"step time from a {bench['gpus']}-GPU benchmark on {bench['gpu']} "
                     f"({bench['tokens_per_s_per_gpu']:,.0f} tokens/s/GPU): the run's {gcds}-rank communication "
                     "(TP and FSDP collectives) is not in it; the run's own metrics.jsonl replaces it once a "
                     "segment has run")
    if abs(bench["memory_model_error"]) > MEMORY_TARGET:
        found.append(f"memory model is {bench['memory_model_error']:+.0%} off {bench['gpu']}'s measured "
                     f"{bench['memory_gb']:.1f} GB at the benchmark's layout (target within {MEMORY_TARGET:.0%}): "
                     "trust the modelled memory per GCD less")
    return found
