"""Memory per GCD: the model shape, its parameter counts, and a model of a rank's peak bytes
that charges what the trainer does (cpt/train: micro-batches, chunked loss, checkpointing, FSDP2).

The peak is reached in one of three phases, and the model takes the largest: the loss
phase (one loss chunk's logits, fp32 log-softmax and gradients, with the norm + head unit
and the last block gathered), a block's recompute (its gathered input and intermediate
activations and their gradients, with two blocks' parameters gathered and the sharded
gradients of the units already done), or the optimizer step (every sharded gradient and
AdamW's temporaries; this one leads on few ranks, e.g. the one-GPU benchmark).
FSDP units follow cpt/train/parallelize.py: the embedding and the norm + head are units of
their own, gathered only around their use; a tied matrix (Llama-3.2-1B/3B) is one parameter
in the root unit, so it stays gathered for the whole step and its unsharded gradient lives
from the head's backward (first) to the embedding's (last). Persistent terms (sharded
masters, AdamW moments) and, in backward, the activations kept (a checkpointed block's input,
any other block's whole working set: `activations`) come on top. The trace (cpt/plan/trace.py),
which equals real ranks at small shapes, checks these figures.
"""

from __future__ import annotations

from cpt.train.config import checkpointed_blocks, loss_chunk_local_tokens

GB = 1e9
DTYPE_BYTES = {"float32": 4, "bfloat16": 2, "float16": 2}
# Bytes per local logit element of one loss chunk in backward (logits, fp32 log-softmax, its
# gradient and temporaries), traced at TP=1 and TP=2 in fp32 and bf16 alike: 12 for the plain
# cross-entropy, 16 for the vocabulary-parallel one (loss_parallel's own temporaries). The
# output projection's gradient comes after the peak: not charged.
LOSS_BYTES = {"plain": 12, "vocab_parallel": 16}
# A block's recompute and backward working set per token, in units of hidden x param bytes
# (not split by TP: the all-gathered sequence-parallel inputs, the row-parallel outputs before
# their reduce-scatter, and their gradients) and of ffn x param bytes / tp (split by TP:
# projections, MLP intermediates and their gradients). The split part is fitted to traces
# at TP=2 and TP=4, the unsplit part to the Llama-3.1-8B trace at TP=8 (9.1 GB of "Temp" for
# 21 x 8192 tokens); the small shapes then come out 3-4% under their traces.
BLOCK_UNSPLIT, BLOCK_SPLIT = 3.5, 7.0


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
    block_work = tokens * pbytes * (BLOCK_UNSPLIT * h + BLOCK_SPLIT * ffn / tp)
    matrix, block = vocab * h, counts["block"]
    # Loss phase: the norm + head (with a tied matrix: the root) and the last block, kept after forward.
    loss_params = (matrix + h + block) * pbytes
    if shape.get("tie_word_embeddings"):
        # Block phase: the root (tied matrix + norm), the tied matrix's unsharded gradient, the
        # current and prefetched blocks, and the current block's gradient as the fp32 reduce-scatter input.
        block_params = (2 * matrix + h + 2 * block) * pbytes + block * rbytes
    else:
        # Block phase: the current block and the prefetched one (the embedding, before the first
        # block's backward), and the current block's gradient.
        block_params = (block + max(block, matrix)) * pbytes + block * rbytes
    loss = LOSS_BYTES["vocab_parallel" if tp > 1 else "plain"]
    # One chunk of train.loss_chunk_tokens tokens (over the TP group), or the whole pass if smaller.
    chunk = min(tp * loss_chunk_local_tokens(train["loss_chunk_tokens"], tp), tokens)
    kept, first, last = activations(train, layers, tokens * h * pbytes / tp, block_work)
    grads = 4 * counts["total"] / shards  # fp32, sharded; set to None after each step
    earlier = grads if micro < train["local_batch"] else 0  # of earlier micro-batches
    head_grad = 0 if shape.get("tie_word_embeddings") else 4 * matrix / shards  # a tied one waits for the root
    phases = {  # (sharded grads, gathered params and grad buffers, activations kept, working set)
        "loss chunk": (earlier, loss_params / tp, kept, chunk * vocab / tp * loss),
        # Backward's first recomputed block: what is kept still held, only the head's gradient done.
        "block recompute": (max(earlier, head_grad), block_params / tp, *first),
        # Its last block: activations freed, every unit but it and the embedding reduce-scattered.
        "block recompute, last block": (max(earlier, 4 * (counts["total"] - block - matrix) / shards),
                                        block_params / tp, *last),
        # Activations are gone; AdamW's foreach update (a GPU's default; the CPU trace runs the
        # for-loop one) makes one fp32 temporary of the local shard.
        "optimizer step": (grads, 0, 0, 4 * counts["total"] / shards),
    }
    phase = max(phases, key=lambda name: sum(phases[name]))
    at_peak = dict(zip(("grads (fp32, sharded)", "FSDP gathered params + grad buffers", "activations kept",
                        f"working set ({phase})"), phases[phase]))
    mem = {"params (fp32, sharded)": 4 * counts["total"] / shards,
           "optimizer (AdamW, fp32)": 8 * counts["total"] / shards, **at_peak}
    mem = {k: v / GB for k, v in mem.items()}
    mem["total"] = sum(mem.values())
    return mem


def activations(train: dict, layers: int, block_input: float, block_work: float):
    """Activation bytes of one pass under train.activation_checkpointing: kept after forward, and
    (kept, recompute working set) at backward's first and last recomputed block (cpt.train.config.
    checkpointed_blocks names them). A checkpointed block keeps its (sequence-sharded) input, the others
    their whole working set; with any checkpointing the final norm's input is kept too. Backward frees
    them block by block, so at the first recompute the plain blocks above it are gone."""
    ckpt = checkpointed_blocks(train["activation_checkpointing"], train["activation_checkpointing_every"], layers)
    if not ckpt:
        return layers * block_work, (layers * block_work, 0), (block_work, 0)
    kept = (len(ckpt) + 1) * block_input + (layers - len(ckpt)) * block_work
    first = kept - (layers - 1 - ckpt[-1]) * block_work
    # The lowest recomputed block: the plain ones below it, its input and its output's gradient.
    last = ckpt[0] * block_work + 2 * block_input
    return kept, (first, block_work), (last, block_work)


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
