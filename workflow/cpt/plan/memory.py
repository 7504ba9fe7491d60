"""Memory per GCD: the model shape, its parameter counts, and a model of a rank's peak bytes
that charges what the trainer does (cpt/train: micro-batches, chunked loss, checkpointing, FSDP2).

The peak is reached in backward, in one of two phases, and the model takes the larger:
the loss phase (one loss chunk's logits, fp32 log-softmax and gradients, with the root
unit's vocabulary matrices gathered) or a block's recompute (its gathered input and
intermediate activations and their gradients, with two blocks' parameters gathered). The
trace (cpt/plan/trace.py) checks these figures against the real code path.
"""

from __future__ import annotations

import json
from pathlib import Path

from cpt.settings import ConfigError
from cpt.train.loss import CHUNK_ROWS

GB = 1e9
DTYPE_BYTES = {"float32": 4, "bfloat16": 2, "float16": 2}
# Bytes per local logit element of one loss chunk in backward: logits (param dtype), their fp32
# log-softmax (kept), its gradient and exp() temporary (fp32), and the gradient cast back.
LOSS_BYTES = {2: 18, 4: 20}


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


def memory_per_gcd(config: dict, shape: dict, micro_batch: int | None = None) -> dict[str, float]:
    """Peak memory per GCD (GB) by kind, and "total", at `micro_batch` rows per pass (default:
    train.micro_batch, else the whole local batch). HSDP (shard x replicate) x TP with sequence
    parallel; sharded fp32 masters, grads and AdamW moments over dp_shard x tp ranks."""
    train, par = config["train"], config["train"]["parallel"]
    micro = micro_batch or train.get("micro_batch") or train["local_batch"]
    counts = param_counts(shape)
    h, ffn, layers = shape["hidden_size"], shape["intermediate_size"], shape["num_hidden_layers"]
    heads, kv_heads, vocab = shape["num_attention_heads"], shape["num_key_value_heads"], shape["vocab_size"]
    kv_dim = kv_heads * h // heads
    tp, shards, seq = par["tp"], par["dp_shard"] * par["tp"], config["data"]["seq_len"]
    pbytes, rbytes = DTYPE_BYTES[train["param_dtype"]], DTYPE_BYTES[train["reduce_dtype"]]
    tokens = micro * seq  # per forward/backward pass
    root = counts["embeddings"] + h  # the root FSDP unit: embedding, final norm, output projection
    # Gathered by FSDP: root unsharded for the whole pass, two blocks (current + prefetched);
    # gradients unsharded in param dtype, cast to reduce dtype for the reduce-scatter.
    gathers = (root + 2 * counts["block"]) * pbytes / tp
    gathered_grads = (root + counts["block"]) * (pbytes + rbytes) / tp
    # Full checkpointing keeps each block's input (sequence-sharded); without it, every block's working set.
    block_input = tokens * h * pbytes / tp
    block_work = tokens * ((4 * h + 2 * kv_dim) * pbytes + (2 * h + 2 * kv_dim) * 4 / tp
                           + 6 * ffn * pbytes / tp + 2 * (h + 2 * kv_dim) * pbytes / tp)
    full_ac = train["activation_checkpointing"] == "full"
    kept = layers * block_input if full_ac else layers * block_work
    loss_chunk = CHUNK_ROWS * seq * vocab / tp * LOSS_BYTES[pbytes] + tokens * h * pbytes
    mem = {
        "params (fp32, sharded)": 4 * counts["total"] / shards,
        "grads (fp32, sharded)": 4 * counts["total"] / shards,
        "optimizer (AdamW, fp32)": 8 * counts["total"] / shards,
        "FSDP gathers (params + grads)": gathers + gathered_grads,
        "activations kept": kept + 2 * block_input,  # + embedding output and the final norm's input
        "working set (larger of loss chunk, block recompute)": max(loss_chunk, block_work if full_ac else 0),
    }
    mem = {k: v / GB for k, v in mem.items()}
    mem["total"] = sum(mem.values())
    return mem


def usable_gb(config: dict) -> float:
    """HBM per GCD less the planner's headroom (allocator fragmentation, runtime, RCCL buffers)."""
    return config["slurm"]["node"]["gcd_memory_gb"] * (1 - config["slurm"]["planner"]["memory_headroom"])


def micro_batch_choices(local_batch: int) -> list[int]:
    return [d for d in range(1, local_batch + 1) if local_batch % d == 0]


def largest_micro_batch(config: dict, shape: dict) -> int | None:
    """The largest divisor of train.local_batch whose modelled peak fits usable_gb; None if none does."""
    fitting = [m for m in micro_batch_choices(config["train"]["local_batch"])
               if memory_per_gcd(config, shape, m)["total"] <= usable_gb(config)]
    return max(fitting, default=None)
