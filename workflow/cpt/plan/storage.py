"""The run's storage bill: what each stage leaves on disk, and the peak over the run's timeline.

Stages follow each other (download -> tokenize -> mix -> train with evals), and what the
storage policy removes (raw sources and tokenized shards by the cleanup rules, optimizer
state of older checkpoints, HF exports whose evals are done) stops counting from then on,
so the peak is the largest footprint at a stage's end, not the sum of every kind's maximum.
"""

from __future__ import annotations

from cpt.evaluate.steps import evaluated_steps
from cpt.plan.jobs import BF16, FP32
from cpt.settings import load

TB = 1e12
TOKEN_BYTES = 4            # uint32 tokens (Llama-3's 128,256-token vocabulary)
DOCUMENT_BYTES = 100       # per tokenized document: its list offset and its `<file>:<row>` id
ADAMW_STATES = 2           # exp_avg and exp_avg_sq, fp32 like the master weights


def checkpoint_counts(config: dict) -> dict[str, int]:
    """Checkpoints on disk at the end of training: full (weights + optimizer) and weights-only.

    Kept: step 0 (the imported base model, weights only), every multiple of keep_every and each
    segment end, and the newest keep_last. With train.checkpoint.weights_only_older, only the
    newest segment end and the keep_last newest keep their optimizer state."""
    train = config["train"]
    ckpt = train["checkpoint"]
    steps, every = train["steps"], train["steps_per_segment"]
    saved = sorted({*range(ckpt["interval"], steps + 1, ckpt["interval"]), *range(every, steps + 1, every), steps})
    kept = {s for s in saved if s % ckpt["keep_every"] == 0 or s % every == 0 or s == steps}
    newest = set(saved[-ckpt["keep_last"]:])
    kept |= newest
    full = (newest | {steps}) if ckpt.get("weights_only_older") else kept
    return {"full": len(full), "weights_only": len(kept - full) + 1}


def storage(config: dict, sizes: dict, params: float) -> dict:
    """storage: each kind's size (TB), the footprint after each stage and its peak, against the quota."""
    settings = load(config)
    cleanup = config["data"].get("cleanup", {})
    raw = sum(s.get("bytes", 0) for s in sizes.values()) / TB
    tokenized = sum(TOKEN_BYTES * s["tokens"] + DOCUMENT_BYTES * s["documents"] for s in sizes.values()) / TB
    mixed = settings.rows_to_mix * (settings.seq_len + 1) * TOKEN_BYTES / TB
    counts = checkpoint_counts(config)
    weights, full = FP32 * params / TB, FP32 * params * (1 + ADAMW_STATES) / TB
    checkpoints = counts["full"] * full + counts["weights_only"] * weights
    exported = [s for s in evaluated_steps(config["eval"]["every"], config["train"]["steps"]) if s > 0]
    in_flight = (config["slurm"]["planner"]["exports_in_flight"] if config["eval"].get("remove_exports")
                 else len(exported))
    exports = min(in_flight, len(exported)) * BF16 * params / TB
    kept_raw = 0 if cleanup.get("raw") else raw
    kept_tokenized = 0 if cleanup.get("tokenized") else tokenized
    timeline = {
        "download": raw,
        "tokenize": raw + tokenized,                        # raw sources are removed only after every shard
        "mix": kept_raw + tokenized + mixed,                # tokenized shards only after every mixed shard
        "train": kept_raw + kept_tokenized + mixed + checkpoints + exports,
    }
    quota = config["slurm"]["planner"]["quota_tb"]
    return {"raw_tb": raw, "tokenized_tb": tokenized, "mixed_tb": mixed, "checkpoints_tb": checkpoints,
            "exports_tb": exports, "total_tb": max(timeline.values()), "peak_after": max(timeline, key=timeline.get),
            "timeline_tb": timeline, "checkpoints": counts, "quota_tb": quota}


SWITCHES = ("train.checkpoint.weights_only_older", "eval.remove_exports", "data.cleanup.raw", "data.cleanup.tokenized")


def storage_warnings(bill: dict, config: dict) -> list[str]:
    """Over the quota: say so, with the policy switches still off."""
    if bill["total_tb"] <= bill["quota_tb"]:
        return []
    off = [key for key in SWITCHES if not _lookup(config, key)]
    return [f"storage peaks at {bill['total_tb']:.1f} TB (after {bill['peak_after']}), over slurm.planner.quota_tb="
            f"{bill['quota_tb']:g}; " + (f"turn on {', '.join(off)} or raise the quota" if off else "raise the quota")]


def _lookup(config: dict, dotted: str):
    node = config
    for part in dotted.split("."):
        node = node.get(part, {}) if isinstance(node, dict) else {}
    return node is True
