"""Candidate layouts of the run's ranks, each with its modelled memory per GCD and step time, ranked.

A layout is dp_replicate x dp_shard x tp over the run's ranks (TP inside a node), the rows
per pass (a divisor of the local batch) and the activation checkpointing mode. The global batch
(rows per step) is the config's in every layout, so layouts compare the same experiment: the
local batch is global rows / DP ranks, and a DP size that does not divide them is skipped.

Memory is the planner's validated model (memory.py). The step time is a model, stated so it can
be checked: compute (the model's FLOPs and the recomputed forward of checkpointed blocks) at a
stated fraction of peak, plus the bytes each collective moves per GCD per step over the link it
uses (ring algorithms), with nothing overlapped. Every constant is slurm.planner.layouts.<name>:
a value with its unit and source, overridable in the config.

- TP with sequence parallel: per block, an all-gather before attention and before the MLP and a
  reduce-scatter after each, of the pass's activations; as many in backward, again in a
  recomputed forward; plus the embedding's and the head's. Over Infinity Fabric: the pair of GCDs
  of one MI250X (tp 2), else the slowest GCD-to-GCD link of the ring.
- FSDP: each pass gathers every unit in forward and again in backward (param dtype) and
  reduce-scatters its gradients (reduce dtype); FSDP2 does both in every micro-batch.
- HSDP replication: every pass all-reduces the sharded gradients across replicas.
A group within one node uses Infinity Fabric; across nodes, Slingshot, whose node bandwidth the
node's ranks share (each runs its own group's collective at the same time).
"""

from __future__ import annotations

import copy
import math

from cpt.plan.memory import DTYPE_BYTES, memory_per_gcd, param_counts, usable_gb
from cpt.plan.memory import micro_batch_choices as divisors
from cpt.settings import ConfigError, global_batch_rows
from cpt.train.config import AC_MODES, checkpointed_blocks

CONSTANTS = ("mfu", "peak_tflops", "in_package_gb_s", "in_node_gb_s", "network_gb_s")


def constants(config: dict) -> dict[str, dict]:
    """slurm.planner.layouts, each {value, unit, source}; a missing one is an error naming its key."""
    table = config["slurm"]["planner"].get("layouts", {})
    for name in CONSTANTS:
        entry = table.get(name)
        if not entry or not entry.get("value", 0) > 0:
            raise ConfigError(f"slurm.planner.layouts.{name} is {entry!r}; give {{value: N > 0, unit: ..., "
                              "source: ...}} (the layouts' step time model needs it)")
    return {name: table[name] for name in CONSTANTS}


def flops_per_token(shape: dict, seq_len: int) -> tuple[float, float]:
    """Training FLOPs per token (6 x matmul params + attention, as cpt.train.model counts MFU) and a
    block's forward FLOPs per token (what checkpointing recomputes)."""
    counts, h, layers = param_counts(shape), shape["hidden_size"], shape["num_hidden_layers"]
    heads_dim = shape["num_attention_heads"] * (shape.get("head_dim") or h // shape["num_attention_heads"])
    block_matmul = counts["block"] - 2 * h  # without its two norms
    dense = layers * counts["block"] + h + shape["vocab_size"] * h
    return 6 * dense + 12 * layers * heads_dim * seq_len, 2 * block_matmul + 4 * heads_dim * seq_len


def candidates(config: dict, shape: dict) -> tuple[list[dict], list[str]]:
    """Every layout of the config's ranks with the config's global rows, and why other meshes were skipped."""
    par = config["train"]["parallel"]
    ranks, per_node = math.prod(par.values()), config["slurm"]["launch"]["tasks_per_node"]
    rows = global_batch_rows(config)
    layouts, skipped = [], []
    for tp in divisors(math.gcd(per_node, ranks)):
        splits = {"num_attention_heads": shape["num_attention_heads"],
                  "num_key_value_heads": shape.get("num_key_value_heads") or shape["num_attention_heads"],
                  "data.seq_len": config["data"]["seq_len"]}
        uneven = [f"{name}={value}" for name, value in splits.items() if value % tp]
        dp = ranks // tp
        if uneven or rows % dp:
            why = f"does not divide {', '.join(uneven)}" if uneven else (f"its {dp} DP ranks do not divide the "
                                                                          f"global batch of {rows} rows")
            skipped.append(f"tp={tp}: {why}")
            continue
        for replicate in divisors(dp):
            for micro in divisors(rows // dp):
                for mode in AC_MODES:
                    layouts.append({"dp_replicate": replicate, "dp_shard": dp // replicate, "tp": tp,
                                    "local_batch": rows // dp, "micro_batch": micro, "activation_checkpointing": mode})
    return layouts, skipped


def at_layout(config: dict, layout: dict) -> dict:
    """The config with `layout`'s mesh, batch split and checkpointing (nothing else changes)."""
    at = copy.deepcopy(config)
    at["train"].update(parallel={k: layout[k] for k in ("dp_replicate", "dp_shard", "tp")},
                       local_batch=layout["local_batch"], micro_batch=layout["micro_batch"],
                       activation_checkpointing=layout["activation_checkpointing"])
    return at


def link_gb_s(group: int, stride: int, per_node: int, c: dict) -> float:
    """Bandwidth per GCD of a collective over `group` ranks `stride` apart (mesh order: TP innermost)."""
    if group * stride > per_node:
        return c["network_gb_s"]["value"] / per_node  # Slingshot, shared by the node's ranks
    if group * stride <= 2:
        return c["in_package_gb_s"]["value"]  # the two GCDs of one MI250X
    return c["in_node_gb_s"]["value"]


def step_time(config: dict, shape: dict, layout: dict, c: dict) -> dict:
    """Seconds per step of `layout`: compute plus each collective's bytes over its link."""
    train, seq, per_node = config["train"], config["data"]["seq_len"], config["slurm"]["launch"]["tasks_per_node"]
    tp, shard, replicate = layout["tp"], layout["dp_shard"], layout["dp_replicate"]
    layers, h = shape["num_hidden_layers"], shape["hidden_size"]
    pbytes, rbytes = DTYPE_BYTES[train["param_dtype"]], DTYPE_BYTES[train["reduce_dtype"]]
    recomputed = len(checkpointed_blocks(layout["activation_checkpointing"], train["activation_checkpointing_every"],
                                         layers))
    model_flops, block_forward = flops_per_token(shape, seq)
    ranks = tp * shard * replicate
    tokens = global_batch_rows(config) * seq / ranks  # per GCD per step
    achieved = c["peak_tflops"]["value"] * 1e12 * c["mfu"]["value"]  # FLOP/s per GCD
    compute = tokens * (model_flops + recomputed * block_forward) / achieved
    passes, params = layout["local_batch"] // layout["micro_batch"], param_counts(shape)["total"] / tp
    gb = 1e9
    # TP: per pass, 4 per block and 2 (embedding, head) in forward, as many in backward, 4 per recomputed block.
    tp_bytes = (layout["local_batch"] * seq * h * pbytes * (tp - 1) / tp) * (8 * layers + 4 + 4 * recomputed)
    fsdp_bytes = passes * params * (2 * pbytes + rbytes) * (shard - 1) / shard
    replicate_bytes = passes * 2 * params / shard * rbytes * (replicate - 1) / replicate
    seconds = {
        "compute_s": compute,
        "tp_s": tp_bytes / gb / link_gb_s(tp, 1, per_node, c),
        "fsdp_s": fsdp_bytes / gb / link_gb_s(shard, tp, per_node, c),
        "replicate_s": replicate_bytes / gb / link_gb_s(replicate, shard * tp, per_node, c),
    }
    return {"seconds_per_step": sum(seconds.values()), **seconds,
            "model_tflops_per_gcd": tokens * model_flops / sum(seconds.values()) / 1e12,
            "comm_gb_per_gcd": {"tp": tp_bytes / gb, "fsdp": fsdp_bytes / gb, "replicate": replicate_bytes / gb}}


def configured(config: dict) -> dict:
    """The config's own layout as a candidate row's keys."""
    train = config["train"]
    return {**train["parallel"], "local_batch": train["local_batch"],
            "micro_batch": train.get("micro_batch") or train["local_batch"],
            "activation_checkpointing": train["activation_checkpointing"]}


def layouts(config: dict, shape: dict, nodes: int, steps: int, planned: tuple[float, str]) -> dict:
    """The plan's `layouts`: every candidate with memory, fits and modelled step time, ranked (fitting
    first, fastest first), the config's own marked; the constants with their sources. `planned`: the
    plan's own seconds per step and where it comes from, beside the model's for the configured layout."""
    c = constants(config)
    usable, own = usable_gb(config), configured(config)
    found, skipped = candidates(config, shape)
    rows = []
    for layout in found:
        memory = memory_per_gcd(at_layout(config, layout), shape)["total"]
        timing = step_time(config, shape, layout, c)
        rows.append({**layout, "memory_gb": memory, "fits": memory <= usable, **timing,
                     "node_hours": timing["seconds_per_step"] * steps / 3600 * nodes, "configured": layout == own})
    # Within 0.5% the model cannot tell layouts apart: the one with less memory ranks first.
    rows.sort(key=lambda r: (not r["fits"], float(f"{r['seconds_per_step']:.3g}"), r["memory_gb"]))
    for rank, row in enumerate(rows, 1):
        row["rank"] = rank
    mine = next((r for r in rows if r["configured"]), None)
    if mine:
        for row in rows:
            row["speedup_vs_configured"] = mine["seconds_per_step"] / row["seconds_per_step"]
    return {"nodes": nodes, "ranks": math.prod(config["train"]["parallel"].values()),
            "global_rows": global_batch_rows(config), "memory_usable_gb": usable, "constants": c,
            "activation_checkpointing_every": config["train"]["activation_checkpointing_every"],
            "plan_seconds_per_step": planned[0], "plan_seconds_per_step_from": planned[1],
            "rows": rows, "skipped": skipped}


def summary(table: dict) -> str:
    """One line for the plan: the fastest modelled layout that fits against the config's own."""
    best = next((r for r in table["rows"] if r["fits"]), None)
    if best is None:
        return "layouts           none of the candidates fits (python -m cpt.plan --layouts lists them)"
    own = next((r for r in table["rows"] if r["configured"]), None)
    versus = (f" vs {_seconds(own['seconds_per_step'], 0)} s configured ({best['speedup_vs_configured']:.2f}x)"
              if own else " (the configured layout is not among the candidates)")
    return (f"layouts           fastest modelled that fits: {describe(best)}, "
            f"{_seconds(best['seconds_per_step'], 0)} s/step{versus}; python -m cpt.plan --layouts for all "
            f"{len(table['rows'])}")


def describe(row: dict) -> str:
    return (f"{row['dp_replicate']} x {row['dp_shard']} x {row['tp']}, micro-batch {row['micro_batch']} of "
            f"{row['local_batch']}, activation checkpointing {row['activation_checkpointing']}")


def render(table: dict, top: int = 12) -> list[str]:
    """The ranked table's first `top` rows and the config's own, then the constants and their sources."""
    lines = [f"layouts           {len(table['rows'])} of {table['ranks']} ranks on {table['nodes']} nodes, "
             f"{table['global_rows']:,} rows per step in each (modelled: cpt/plan/layouts.py); "
             f"selective: 1 block in {table['activation_checkpointing_every']} recomputed",
             f"  {'rank':>4} {'rep x shard x tp':>16} {'local':>5} {'micro':>5} {'AC':<9} {'GB/GCD':>7} {'fits':<4} "
             f"{'s/step':>7} {'compute':>7} {'TP':>6} {'FSDP':>6} {'repl.':>6} {'vs own':>6}"]
    shown = [r for r in table["rows"] if r["rank"] <= top or r["configured"]]
    for r in shown:
        mesh = f"{r['dp_replicate']} x {r['dp_shard']} x {r['tp']}"
        speed = f"{r['speedup_vs_configured']:.2f}x" if "speedup_vs_configured" in r else ""
        times = " ".join(_seconds(r[k], w) for k, w in (("seconds_per_step", 7), ("compute_s", 7), ("tp_s", 6),
                                                        ("fsdp_s", 6), ("replicate_s", 6)))
        lines.append(f"  {r['rank']:>4} {mesh:>16} {r['local_batch']:>5} {r['micro_batch']:>5} "
                     f"{r['activation_checkpointing']:<9} {r['memory_gb']:>7.3g} {'yes' if r['fits'] else 'NO':<4} "
                     f"{times} {speed:>6}{'  <- configured' if r['configured'] else ''}")
    lines += [f"  skipped: {s}" for s in table["skipped"]]
    own = next((r for r in table["rows"] if r["configured"]), None)
    if own:
        lines.append(f"  the model's {_seconds(own['seconds_per_step'], 0)} s/step for the configured layout is "
                     f"{own['seconds_per_step'] / table['plan_seconds_per_step']:.3g}x the plan's "
                     f"{table['plan_seconds_per_step']:.2f} s ({table['plan_seconds_per_step_from']}): it ranks "
                     "layouts, the sweep (or a run's metrics) measures them")
    lines += [f"  {name} = {e['value']:g} {e.get('unit', '')}: {e['source']}" for name, e in table["constants"].items()]
    return lines


def _seconds(value: float, width: int) -> str:
    """Seconds at a readable precision: 27.95 at the reference's scale, 9.8e-05 at the demo's."""
    return f"{value:>{width}.2f}" if value >= 0.01 or value == 0 else f"{value:>{width}.2g}"
