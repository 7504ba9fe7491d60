"""The plan as plain data (make_plan), its warnings, and its text rendering."""

from __future__ import annotations

from pathlib import Path

from cpt.plan.evaluation import evaluation
from cpt.plan.memory import memory_per_gcd, model_shape, param_counts
from cpt.plan.schedule import schedule, seconds_per_step
from cpt.plan.sources import mix_usage, source_sizes, tokens_per_step
from cpt.settings import normalized_weights


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
        "evaluation": evaluation(config),
        "params": param_counts(shape)["total"], "model_from": shape_from,
        "memory_gb": memory_per_gcd(config, shape), "gcd_memory_gb": config["slurm"]["node"]["gcd_memory_gb"],
    }


def warnings(plan: dict, config: dict) -> list[str]:
    """What is allowed but likely wrong: segments longer than their job, memory over HBM."""
    found, s = [], plan["schedule"]
    if config["train"]["steps_per_segment"] > s["steps_fitting_one_job"]:
        found.append(f"train.steps_per_segment={config['train']['steps_per_segment']} needs {s['segment_hours']:.1f} h "
                     f"but only {s['steps_fitting_one_job']} steps fit {s['hours']:g} h; each segment will be cut by "
                     f"the time-limit signal and resubmitted: lower train.steps_per_segment")
    purge = config["slurm"]["planner"]["purge_days"]
    if s["calendar_days"] > purge:
        found.append(f"the run takes {s['calendar_days']:.0f} days, longer than the {purge:g}-day scratch purge "
                     "(slurm.planner.purge_days): outputs written early and not read again (raw sources, tokenized "
                     "shards, kept checkpoints after their eval, eval results) will be deleted before it ends; "
                     "archive them to Kronos as the README's 'Where data lives' table says")
    if plan["memory_gb"]["total"] > plan["gcd_memory_gb"]:
        found.append(f"estimated {plan['memory_gb']['total']:.1f} GB per GCD exceeds slurm.node.gcd_memory_gb="
                     f"{plan['gcd_memory_gb']}; lower train.local_batch or raise train.parallel.tp / dp_shard")
    return found


def _tokens(n: float) -> str:
    """Token counts at a readable scale: 5.5T, 809.2B, 340.2k."""
    for scale, unit in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")):
        if n >= scale:
            return f"{n / scale:,.1f}{unit}"
    return f"{n:,.0f}"


def render(plan: dict) -> str:
    """The plan as a short text report."""
    s, e = plan["schedule"], plan["evaluation"]
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
        (f"evaluation        {e['runs']} lm-eval runs, {e['runs_per_node_job']} at once per node: {e['node_jobs']} "
         f"node jobs, {e['node_hours']:,.0f} node-hours ({e['unpacked_node_hours']:,.0f} at one node per run)"),
        f"memory per GCD    ({plan['params'] / 1e9:.2f}B params, shape from {plan['model_from']})",
    ]
    lines += [f"  {k:<26} {v:7.2f} GB" for k, v in plan["memory_gb"].items() if k != "total"]
    total, hbm = plan["memory_gb"]["total"], plan["gcd_memory_gb"]
    lines.append(f"  {'total':<26} {total:7.2f} GB of {hbm:g} GB ({'fits' if total <= hbm else 'DOES NOT FIT'})")
    return "\n".join(lines)
