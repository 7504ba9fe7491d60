"""Memory per GCD: the model shape, its parameter counts and a first-order model of a rank's bytes."""

from __future__ import annotations

import json
from pathlib import Path

from cpt.settings import ConfigError

GB = 1e9
DTYPE_BYTES = {"float32": 4, "bfloat16": 2, "float16": 2}


def model_shape(config: dict) -> tuple[dict, str]:
    """The base model's HF config.json when downloaded, else slurm.planner.model."""
    path = Path(config["model"]["base_dir"]) / "config.json"
    if path.exists():
        return json.loads(path.read_text()), str(path)
    if not config["slurm"]["planner"].get("model"):
        raise ConfigError(f"{path} does not exist and slurm.planner.model is not set; "
                          f"download the model (snakemake download_model) or give its shape there")
    return config["slurm"]["planner"]["model"], "config (slurm.planner.model)"


def param_counts(shape: dict) -> dict[str, int]:
    """Parameters of a Llama: per block, embeddings + output, total (8.03B for Llama-3.1-8B)."""
    h, ffn = shape["hidden_size"], shape["intermediate_size"]
    kv_dim = shape["num_key_value_heads"] * h // shape["num_attention_heads"]
    block = 2 * h + 2 * h * h + 2 * h * kv_dim + 3 * h * ffn
    embed = shape["vocab_size"] * h * (1 if shape.get("tie_word_embeddings") else 2)
    return {"block": block, "embeddings": embed, "total": shape["num_hidden_layers"] * block + embed + h}


def memory_per_gcd(config: dict, shape: dict) -> dict[str, float]:
    """First-order memory per GCD (GB) under HSDP (shard x replicate) x TP with sequence parallel.

    Sharded fp32 master params, fp32 grads and AdamW's two moments over dp_shard x tp ranks;
    the unsharded block FSDP gathers (current + prefetched) in param dtype with its grads in
    reduce dtype; activations: with full checkpointing, each block's input (sequence-sharded
    over tp) plus one block's recompute working set (forward and gradient); logits of the local
    batch (vocab-parallel) in param dtype with their fp32 upcast for the loss."""
    train, par = config["train"], config["train"]["parallel"]
    counts = param_counts(shape)
    h, ffn, layers = shape["hidden_size"], shape["intermediate_size"], shape["num_hidden_layers"]
    kv_dim = shape["num_key_value_heads"] * h // shape["num_attention_heads"]
    tp, shards = par["tp"], par["dp_shard"] * par["tp"]
    pbytes, rbytes = DTYPE_BYTES[train["param_dtype"]], DTYPE_BYTES[train["reduce_dtype"]]
    tokens = train["local_batch"] * config["data"]["seq_len"]
    block_acts = tokens * (6 * h + 2 * kv_dim + 4 * ffn) * pbytes / tp
    if train["activation_checkpointing"] == "full":
        activations = layers * tokens * h * pbytes / tp + 2 * block_acts
    else:
        activations = layers * 2 * block_acts
    largest = max(counts["block"], counts["embeddings"] // 2)
    mem = {
        "params (fp32, sharded)": 4 * counts["total"] / shards,
        "grads (fp32, sharded)": 4 * counts["total"] / shards,
        "optimizer (AdamW, fp32)": 8 * counts["total"] / shards,
        "gathered params + grads": 2 * largest / tp * (pbytes + rbytes),
        "activations": activations,
        "logits": tokens * shape["vocab_size"] / tp * (pbytes + 4),
    }
    mem = {k: v / GB for k, v in mem.items()}
    mem["total"] = sum(mem.values())
    return mem
