"""Memory per GCD: the model shape, its parameter counts, and a model of a rank's peak bytes
that charges what the trainer does (cpt/train: micro-batches, chunked loss, checkpointing, FSDP2).

The peak is reached in backward, in one of two phases, and the model takes the larger:
the loss phase (one loss chunk's logits, fp32 log-softmax and gradients, with the root
unit's vocabulary matrices gathered) or a block's recompute (its gathered input and
intermediate activations and their gradients, with two blocks' parameters gathered).
Persistent terms (sharded masters, AdamW moments, sharded gradients of earlier
micro-batches) and the block inputs that checkpointing keeps come on top. The trace
(cpt/plan/trace.py), which equals real ranks at small shapes, checks these figures.
"""

from __future__ import annotations

import json
from pathlib import Path

from cpt.settings import ConfigError
from cpt.train.loss import CHUNK_ROWS

GB = 1e9
DTYPE_BYTES = {"float32": 4, "bfloat16": 2, "float16": 2}
# Bytes per local logit element of one loss chunk in backward (logits, fp32 log-softmax, its
# gradient and temporaries): 16 in traces that equal real ranks (the output projection's
# gradient is charged with the gathered parameters).
LOSS_BYTES = 16
# A block's recompute and backward working set per token, in units of hidden x param bytes
# (not split by TP: the all-gathered sequence-parallel inputs, the row-parallel outputs before
# their reduce-scatter, and their gradients) and of ffn x param bytes / tp (split by TP:
# projections, MLP intermediates and their gradients). The split part is fitted to traces
# at TP=2 and TP=4, the unsplit part to the Llama-3.1-8B trace at TP=8 (9.1 GB of "Temp" for
# 21 x 8192 tokens); the small shapes then come out 3-4% under their traces.
BLOCK_UNSPLIT, BLOCK_SPLIT = 3.5, 7.0


def model_shape(config: dict) -> tuple[dict, str]:
    """The base model's HF config.json when downloaded, else slurm.planner.model."""
    path = Path(config["model"]["base_dir"]) / "config.json"
    if path.exists():
        try:
            return json.loads(path.read_text()), str(path)
        except json.JSONDecodeError as err:
            raise ConfigError(f"{path} is not valid JSON ({err}): an interrupted download? Remove it and run "
                              "`snakemake download_model` again") from None
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
    h, ffn, layers, vocab = (shape["hidden_size"], shape["intermediate_size"], shape["num_hidden_layers"],
                             shape["vocab_size"])
    tp, shards, seq = par["tp"], par["dp_shard"] * par["tp"], config["data"]["seq_len"]
    pbytes, rbytes = DTYPE_BYTES[train["param_dtype"]], DTYPE_BYTES[train["reduce_dtype"]]
    tokens = micro * seq  # per forward/backward pass
    root = counts["embeddings"] + h  # the root FSDP unit: embedding, final norm, output projection
    block_work = tokens * pbytes * (BLOCK_UNSPLIT * h + BLOCK_SPLIT * ffn / tp)
    full_ac = train["activation_checkpointing"] == "full"
    # The root unit stays gathered for the whole pass. Loss phase: the last block (kept after
    # forward) and the output projection's gradient; block phase: the current and prefetched
    # blocks, and the current block's gradient as the fp32 reduce-scatter input.
    phases = {
        "loss chunk": ((root + counts["block"] + vocab * h) * pbytes / tp,
                       CHUNK_ROWS * seq * vocab / tp * LOSS_BYTES),
        "block recompute": ((root + 2 * counts["block"]) * pbytes / tp + counts["block"] * rbytes / tp,
                            block_work if full_ac else 0),
    }
    phase = max(phases, key=lambda name: sum(phases[name]))
    gathered, work = phases[phase]
    # Full checkpointing keeps each block's input (sequence-sharded) and the final norm's;
    # without it, every block's working set.
    kept = (layers + 1) * tokens * h * pbytes / tp if full_ac else layers * block_work
    mem = {
        "params (fp32, sharded)": 4 * counts["total"] / shards,
        # Set to None after each step: at the peak, only earlier micro-batches' gradients exist.
        "grads (fp32, sharded)": 4 * counts["total"] / shards if micro < train["local_batch"] else 0,
        "optimizer (AdamW, fp32)": 8 * counts["total"] / shards,
        "FSDP gathered params + grad buffers": gathered,
        "activations kept": kept,
        f"working set ({phase})": work,
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
