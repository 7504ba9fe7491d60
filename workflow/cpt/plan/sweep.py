"""The sweep: which candidate layouts to measure, what that costs, and what the measurements say.

`snakemake sweep` (workflow/rules/sweep.smk) runs cpt.train.bench once per layout named here: the
`sweep.candidates` fastest modelled layouts that fit (layouts.py) and the configured one, each on the
run's nodes with its mix and base model. A layout that does not fit is refused by name at DAG build,
never submitted. The plan prices the sweep before it runs (node-hours, against the run's) and, once
results/<run>/sweep/table.csv exists, shows the fastest measured layout beside the configured one
with the node-hours and days it saves and the keys to set; it never edits the config.
The sweep_table rule writes the table with `python -m cpt.plan.sweep_table` (write_table here).
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

from cpt import cluster
from cpt.atomic import atomic_path
from cpt.plan import layouts
from cpt.shape import model_shape
from cpt.plan.schedule import schedule
from cpt.settings import ConfigError

RULE = "sweep_layout"
COLUMNS = ("layout", "configured", "dp_replicate", "dp_shard", "tp", "local_batch", "micro_batch",
           "activation_checkpointing", "seconds_per_step", "tokens_per_s_per_gcd", "mfu", "memory_peak_gb",
           "modelled_seconds_per_step", "modelled_memory_gb")


def name(row: dict) -> str:
    """A layout's name, as a file name and a wildcard: r2-s32-t8-m21-full."""
    return (f"r{row['dp_replicate']}-s{row['dp_shard']}-t{row['tp']}-m{row['micro_batch']}-"
            f"{row['activation_checkpointing']}")


def table(config: dict) -> dict:
    """The layouts table of the config (layouts.py), the configured step time beside it."""
    shape, _ = model_shape(config)
    ranks = math.prod(config["train"]["parallel"].values())
    nodes = cluster.request(config, "train_segment", ranks)["nodes"]
    planner = config["slurm"]["planner"]["seconds_per_step"]
    return layouts.layouts(config, shape, nodes, config["train"]["steps"],
                           (planner, "config (slurm.planner.seconds_per_step)"))


def chosen(table: dict, count: int) -> list[dict]:
    """The `count` fastest modelled layouts that fit and the configured one (if it fits), in rank order."""
    fitting = [r for r in table["rows"] if r["fits"]]
    return fitting[:count] + [r for r in fitting[count:] if r["configured"]]


def train_section(config: dict, table: dict, layout: str) -> dict:
    """The train: section at `layout`; refused by name if it is not a layout of the run or does not fit."""
    row = next((r for r in table["rows"] if name(r) == layout), None)
    if row is None:
        raise ConfigError(f"sweep: {layout!r} is not a layout of this run's {table['ranks']} ranks at "
                          f"{table['global_rows']} rows per step; python -m cpt.plan --layouts lists them")
    if not row["fits"]:
        raise ConfigError(f"sweep: layout {layout} does not fit: modelled {row['memory_gb']:.1f} GB per GCD over "
                          f"{table['memory_usable_gb']:.1f} GB usable (slurm.node.gcd_memory_gb less "
                          "slurm.planner.memory_headroom); it is not submitted")
    return layouts.at_layout(config, row)["train"]


def price(config: dict, table: dict, run_node_hours: float) -> dict:
    """Each sweep job's hours (start-up + its steps at the modelled time) against its request and the
    queue policy, and the sweep's node-hours against the run's. `too_long`: the layouts whose estimate
    x slurm.planner.safety exceeds the request (check() refuses them; the plan warns)."""
    sweep, planner = config["sweep"], config["slurm"]["planner"]
    picked = chosen(table, sweep["candidates"])
    req = cluster.request(config, RULE, table["ranks"])
    cluster.check_policy(config, RULE, req)
    steps = sweep["warmup_steps"] + sweep["steps"]
    hours = {name(r): planner["segment_overhead_minutes"] / 60 + steps * r["seconds_per_step"] / 3600 for r in picked}
    node_hours = req["nodes"] * sum(hours.values())
    return {"layouts": list(hours), "steps": steps, "nodes": req["nodes"], "hours": hours,
            "hours_requested": req["hours"], "partition": req["partition"], "node_hours": node_hours,
            "share_of_run": node_hours / run_node_hours, "max_share": sweep["max_share"],
            "too_long": [n for n, h in hours.items() if h * planner["safety"] > req["hours"]]}


def too_long(config: dict, bill: dict) -> str | None:
    """Why the sweep's jobs would not fit their walltime request, or None."""
    if not bill["too_long"]:
        return None
    longest = max(bill["hours"][n] for n in bill["too_long"])
    return (f"sweep: {', '.join(bill['too_long'])} need up to {longest:.2f} h x slurm.planner.safety="
            f"{config['slurm']['planner']['safety']:g} but slurm.resources.{RULE}.hours={bill['hours_requested']:g}; "
            "raise the hours or lower sweep.steps / sweep.warmup_steps")


def check(config: dict, table: dict) -> list[dict]:
    """The layouts to measure; a ConfigError if any one's job would not fit its walltime request."""
    reason = too_long(config, price(config, table, run_node_hours=1.0))
    if reason:
        raise ConfigError(reason)
    return chosen(table, config["sweep"]["candidates"])


def read_table(path: Path) -> list[dict]:
    """table.csv's rows, numbers as numbers."""
    rows = list(csv.DictReader(io.StringIO(path.read_text())))
    for row in rows:
        for key, value in row.items():
            if key not in ("layout", "activation_checkpointing"):
                row[key] = value == "True" if key == "configured" else (float(value) if value else None)
    return rows


def measured(config: dict, path: Path, queue_wait_hours: float) -> dict | None:
    """The fastest measured layout beside the configured one: run node-hours and days saved, keys to set."""
    if not path.exists():
        return None
    rows = read_table(path)
    fastest = min(rows, key=lambda r: r["seconds_per_step"])
    own = next((r for r in rows if r["configured"]), None)
    result = {"file": str(path), "fastest": fastest, "configured": own, "keys": keys_to_set(config, fastest)}
    if own:
        mine, theirs = (schedule(config, r["seconds_per_step"], queue_wait_hours) for r in (own, fastest))
        result.update(node_hours_saved=mine["node_hours"] - theirs["node_hours"],
                      days_saved=mine["calendar_days"] - theirs["calendar_days"])
    return result


def keys_to_set(config: dict, row: dict) -> dict:
    """The config keys (dotted) whose values differ from the layout's."""
    train, wanted = config["train"], {
        **{f"train.parallel.{k}": int(row[k]) for k in ("dp_replicate", "dp_shard", "tp")},
        "train.local_batch": int(row["local_batch"]), "train.micro_batch": int(row["micro_batch"]),
        "train.activation_checkpointing": row["activation_checkpointing"]}
    now = {**{f"train.parallel.{k}": v for k, v in train["parallel"].items()},
           "train.local_batch": train["local_batch"],
           "train.micro_batch": train.get("micro_batch") or train["local_batch"],
           "train.activation_checkpointing": train["activation_checkpointing"]}
    return {key: value for key, value in wanted.items() if now[key] != value}


def render(sweep: dict) -> list[str]:
    lines = [f"sweep             {len(sweep['layouts'])} layouts x {sweep['nodes']} nodes, {sweep['steps']} steps each "
             f"(<= {sweep['hours_requested']:g} h on {sweep['partition']}): {sweep['node_hours']:,.0f} node-hours, "
             f"{sweep['share_of_run']:.2%} of the run's (goal under {sweep['max_share']:.2%}): snakemake sweep"]
    m = sweep.get("measured")
    if m and m["configured"]:
        fast, own = m["fastest"], m["configured"]
        keys = ", ".join(f"{k}: {v}" for k, v in m["keys"].items()) or "none (the configured layout is the fastest)"
        lines.append(f"  measured          fastest {fast['layout']} {fast['seconds_per_step']:.3g} s/step vs "
                     f"configured {own['layout']} {own['seconds_per_step']:.3g} s: saves {m['node_hours_saved']:,.0f} "
                     f"node-hours, {m['days_saved']:.1f} days ({m['file']}); to use it set {keys}")
    return lines


def write_table(records: list[dict], config: dict, out_dir: Path) -> None:
    """table.csv, table.md and plot.png of the measured layouts, beside the modelled figures."""
    by_name = {name(r): r for r in table(config)["rows"]}
    rows = []
    for record in sorted(records, key=lambda r: r["seconds_per_step"]):
        model = by_name[record["layout"]]
        rows.append({"layout": record["layout"], "configured": model["configured"],
                     **{k: model[k] for k in ("dp_replicate", "dp_shard", "tp", "local_batch", "micro_batch",
                                              "activation_checkpointing")},
                     **{k: record[k] for k in ("seconds_per_step", "tokens_per_s_per_gcd", "mfu", "memory_peak_gb")},
                     "modelled_seconds_per_step": model["seconds_per_step"], "modelled_memory_gb": model["memory_gb"]})
    with atomic_path(out_dir / "table.csv") as tmp:
        with tmp.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=COLUMNS)
            writer.writeheader()
            writer.writerows({k: ("" if v is None else v) for k, v in row.items()} for row in rows)
    header = ("| layout | s/step | tokens/s per GCD | MFU | peak GB per GCD | modelled s/step | modelled GB |\n"
              "|---|---:|---:|---:|---:|---:|---:|\n")
    lines = [f"| {r['layout']}{' (configured)' if r['configured'] else ''} | {r['seconds_per_step']:.4g} | "
             f"{r['tokens_per_s_per_gcd']:,.0f} | {'' if r['mfu'] is None else format(r['mfu'], '.1%')} | "
             f"{r['memory_peak_gb']:.3g} | {r['modelled_seconds_per_step']:.4g} | {r['modelled_memory_gb']:.3g} |"
             for r in rows]
    with atomic_path(out_dir / "table.md") as tmp:
        tmp.write_text(header + "\n".join(lines) + "\n")
    plot(rows, out_dir / "plot.png")


def plot(rows: list[dict], path: Path) -> None:
    """Step time and peak memory per layout, measured beside modelled."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [r["layout"] + (" *" if r["configured"] else "") for r in rows]
    fig, axes = plt.subplots(1, 2, figsize=(11, 0.5 * len(rows) + 2), sharey=True)
    panels = (("seconds_per_step", "modelled_seconds_per_step", "s/step (* configured)"),
              ("memory_peak_gb", "modelled_memory_gb", "peak GB per GCD"))
    for ax, (key, modelled, title) in zip(axes, panels):
        y = range(len(rows))
        ax.barh([i + 0.2 for i in y], [r[key] for r in rows], height=0.4, label="measured")
        ax.barh([i - 0.2 for i in y], [r[modelled] for r in rows], height=0.4, label="modelled", alpha=0.6)
        ax.set_title(title)
    axes[0].set_yticks(range(len(rows)), labels)
    axes[0].invert_yaxis()
    axes[0].legend()
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
