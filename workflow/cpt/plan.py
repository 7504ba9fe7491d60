"""The run planner: what a config costs before a node-hour is spent.

Tokens per step and in total, tokens and epochs per source under the mix, steps
that fit in one job, segments, node- and GCD-hours, calendar time for a queue
wait, memory per GCD against its HBM, and the queue-policy check of the training
request (a violation is an error, before anything is submitted).

Measured figures replace config estimates when they exist: source sizes from a
mix manifest, seconds per step from an earlier run's metrics.jsonl, the model
shape from the base model's config.json.

    python -m cpt.plan config.yaml [configs/demo.yaml ...] [--queue-wait-hours H] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from pathlib import Path

from cpt import cluster
from cpt.settings import ConfigError, global_batch_rows, normalized_weights

GB = 1e9
DTYPE_BYTES = {"float32": 4, "bfloat16": 2, "float16": 2}
TRAIN_RULE = "train_segment"


def tokens_per_step(config: dict) -> int:
    """Sequences of all DP ranks x context: 64 x 21 x 8192 = 11,010,048 for the reference run."""
    return global_batch_rows(config) * config["data"]["seq_len"]


def source_sizes(config: dict, manifest: dict | None) -> tuple[dict[str, dict], str]:
    """Documents and tokens available per source: counted by a manifest, else config estimates."""
    if manifest is not None:
        return ({name: {"documents": s["available_documents"], "tokens": s["available_tokens"]}
                 for name, s in manifest["sources"].items()}, "manifest")
    estimates = config["slurm"]["planner"].get("sources", {})
    missing = sorted(set(config["data"]["sources"]) - set(estimates))
    if missing:
        raise ConfigError(f"slurm.planner.sources has no size estimate for {', '.join(missing)}; "
                          f"add {{documents: N, tokens: N}} for each, or pass --manifest of a finished mix")
    return {name: estimates[name] for name in config["data"]["sources"]}, "config estimate"


def mix_usage(weights: dict[str, float], sizes: dict[str, dict], total_tokens: float, weighting: str) -> dict:
    """Tokens, documents and epochs each source contributes to `total_tokens` of training.

    rows: weights are document shares, so a source's token share follows its mean
    document length; tokens: weights are token shares directly."""
    per_doc = {name: sizes[name]["tokens"] / sizes[name]["documents"] for name in weights}
    if weighting == "rows":
        documents = total_tokens / sum(weights[n] * per_doc[n] for n in weights)
        tokens = {n: weights[n] * documents * per_doc[n] for n in weights}
    else:
        tokens = {n: weights[n] * total_tokens for n in weights}
    return {n: {"weight": weights[n], "tokens": tokens[n], "token_share": tokens[n] / total_tokens,
                "documents": tokens[n] / per_doc[n], "epochs": tokens[n] / sizes[n]["tokens"]}
            for n in weights}


def seconds_per_step(config: dict, metrics: Path | None) -> tuple[float, str]:
    """Median step time of an earlier run's metrics.jsonl (first record, with compile, dropped), else config."""
    if metrics is not None and metrics.exists():
        times = [json.loads(line)["step_time_s"] for line in metrics.read_text().splitlines() if line.strip()]
        if len(times) > 1:
            return statistics.median(times[1:]), f"measured ({metrics}, {len(times) - 1} records)"
    return config["slurm"]["planner"]["seconds_per_step"], "config (slurm.planner.seconds_per_step)"


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


def schedule(config: dict, step_seconds: float, queue_wait_hours: float) -> dict:
    """Segments, node- and GCD-hours and calendar time of the training chain on its request."""
    train, planner = config["train"], config["slurm"]["planner"]
    par = train["parallel"]
    tasks = par["dp_replicate"] * par["dp_shard"] * par["tp"]
    req = cluster.request(config, TRAIN_RULE, tasks)
    cluster.check_policy(config, TRAIN_RULE, req)
    usable_s = req["hours"] * 3600 - planner["segment_overhead_minutes"] * 60
    segment_hours = (train["steps_per_segment"] * step_seconds) / 3600 + planner["segment_overhead_minutes"] / 60
    segments = math.ceil(train["steps"] / train["steps_per_segment"])
    run_hours = train["steps"] * step_seconds / 3600 + segments * planner["segment_overhead_minutes"] / 60
    gcds_per_node = config["slurm"]["node"]["gcds"]
    return {
        "tasks": tasks, "nodes": req["nodes"], "partition": req["partition"], "hours": req["hours"],
        "policy_limit_hours": cluster.walltime_limit(config["slurm"]["partitions"], req["partition"], req["nodes"]),
        "steps_fitting_one_job": int(usable_s // step_seconds),
        "segment_hours": segment_hours, "segments": segments,
        "node_hours": run_hours * req["nodes"], "gcd_hours": run_hours * req["nodes"] * gcds_per_node,
        "calendar_days": (run_hours + segments * queue_wait_hours) / 24,
    }


def make_plan(config: dict, *, manifest: dict | None = None, metrics: Path | None = None,
              queue_wait_hours: float | None = None) -> dict:
    """Every figure of the plan as plain data (the JSON the `plan` rule writes)."""
    step_tokens = tokens_per_step(config)
    total = step_tokens * config["train"]["steps"]
    sizes, sizes_from = source_sizes(config, manifest)
    weights = normalized_weights(config["data"]["sources"])
    step_s, step_s_from = seconds_per_step(config, metrics)
    shape, shape_from = model_shape(config)
    wait = config["slurm"]["planner"]["queue_wait_hours"] if queue_wait_hours is None else queue_wait_hours
    return {
        "tokens_per_step": step_tokens, "steps": config["train"]["steps"], "total_tokens": total,
        "sources": mix_usage(weights, sizes, total, config["data"]["mix"]["weighting"]), "sources_from": sizes_from,
        "seconds_per_step": step_s, "seconds_per_step_from": step_s_from, "queue_wait_hours": wait,
        "schedule": schedule(config, step_s, wait),
        "params": param_counts(shape)["total"], "model_from": shape_from,
        "memory_gb": memory_per_gcd(config, shape), "gcd_memory_gb": config["slurm"]["node"]["gcd_memory_gb"],
    }


def _tokens(n: float) -> str:
    """Token counts at a readable scale: 5.5T, 809.2B, 340.2k."""
    for scale, unit in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")):
        if n >= scale:
            return f"{n / scale:,.1f}{unit}"
    return f"{n:,.0f}"


def render(plan: dict) -> str:
    """The plan as a short text report."""
    s = plan["schedule"]
    lines = [
        f"tokens per step   {plan['tokens_per_step']:,}",
        f"total             {plan['steps']:,} steps = {_tokens(plan['total_tokens'])} tokens",
        f"sources           ({plan['sources_from']})",
    ]
    lines += [f"  {name:<14} weight {u['weight']:.2f}  {_tokens(u['tokens']):>8} tokens ({u['token_share']:6.1%})"
              f"  {u['epochs']:6.2f} epochs" for name, u in plan["sources"].items()]
    lines += [
        f"step time         {plan['seconds_per_step']:.2f} s ({plan['seconds_per_step_from']})",
        (f"training job      {s['nodes']} nodes x {s['hours']:g} h on {s['partition']} ({s['tasks']} tasks; "
         f"policy limit {s['policy_limit_hours']:g} h): OK"),
        f"segment           {s['segment_hours']:.1f} h of work; {s['steps_fitting_one_job']:,} steps fit one job",
        f"segments          {s['segments']}",
        f"node-hours        {s['node_hours']:,.0f}   GCD-hours {s['gcd_hours']:,.0f}",
        f"calendar          {s['calendar_days']:,.1f} days with {plan['queue_wait_hours']:g} h queue wait per segment",
        f"memory per GCD    ({plan['params'] / 1e9:.2f}B params, shape from {plan['model_from']})",
    ]
    lines += [f"  {k:<26} {v:7.2f} GB" for k, v in plan["memory_gb"].items() if k != "total"]
    total, hbm = plan["memory_gb"]["total"], plan["gcd_memory_gb"]
    lines.append(f"  {'total':<26} {total:7.2f} GB of {hbm:g} GB ({'fits' if total <= hbm else 'DOES NOT FIT'})")
    return "\n".join(lines)


def warnings(plan: dict, config: dict) -> list[str]:
    """What is allowed but likely wrong: segments longer than their job, memory over HBM."""
    found, s = [], plan["schedule"]
    if config["train"]["steps_per_segment"] > s["steps_fitting_one_job"]:
        found.append(f"train.steps_per_segment={config['train']['steps_per_segment']} needs {s['segment_hours']:.1f} h "
                     f"but only {s['steps_fitting_one_job']} steps fit {s['hours']:g} h; each segment will be cut by "
                     f"the time-limit signal and resubmitted: lower train.steps_per_segment")
    if plan["memory_gb"]["total"] > plan["gcd_memory_gb"]:
        found.append(f"estimated {plan['memory_gb']['total']:.1f} GB per GCD exceeds slurm.node.gcd_memory_gb="
                     f"{plan['gcd_memory_gb']}; lower train.local_batch or raise train.parallel.tp / dp_shard")
    return found


def load_config(paths: list[str]) -> dict:
    """config.yaml overlaid by later files, validated with defaults, as Snakemake does it."""
    import yaml
    from snakemake.utils import update_config, validate

    config: dict = {}
    for path in paths:
        update_config(config, yaml.safe_load(Path(path).read_text()) or {})
    validate(config, str(Path(__file__).parents[1] / "schemas" / "config.schema.yaml"))
    return config


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cpt.plan", description=__doc__.split("\n")[0])
    parser.add_argument("configs", nargs="*", default=["config.yaml"], help="config.yaml, then overlays")
    parser.add_argument("--config-json", help="the effective config as JSON (the plan rule passes it)")
    parser.add_argument("--manifest", type=Path, help="a finished mix's manifest.json (default: the run's, if any)")
    parser.add_argument("--metrics", type=Path, help="an earlier run's metrics.jsonl (default: the run's, if any)")
    parser.add_argument("--queue-wait-hours", type=float)
    parser.add_argument("--json", type=Path, help="also write the plan as JSON here")
    args = parser.parse_args(argv)
    config = json.loads(args.config_json) if args.config_json else load_config(args.configs)
    run_dir = Path(config["results_dir"]) / config["run"]
    manifest_path = args.manifest or run_dir / "data" / "manifest.json"
    try:
        plan = make_plan(config, manifest=json.loads(manifest_path.read_text()) if manifest_path.exists() else None,
                         metrics=args.metrics or run_dir / "train" / "metrics.jsonl",
                         queue_wait_hours=args.queue_wait_hours)
    except ConfigError as e:
        print(f"plan: error: {e}", file=sys.stderr)
        return 1
    print(render(plan))
    for warning in warnings(plan, config):
        print(f"plan: warning: {warning}", file=sys.stderr)
    if args.json:
        args.json.write_text(json.dumps(plan, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
