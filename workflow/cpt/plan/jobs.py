"""Every job of the run against its Slurm request: count, estimated and requested hours, nodes.

An estimate is work / rate (rates.py) plus start-up. Each job's estimate times
slurm.planner.safety must fit its request, and the request must fit the queue policy:
otherwise the plan is an error, before anything is submitted, naming the key to change
(for tokenize: the source's shard count, with the smallest count that fits). Tokenize and
mix jobs are node jobs of slurm.node.cores shards at once (cpt.data.group), so a job's hours
are its largest shard's and its node-hours are charged whole. Training
is the exception: a segment longer than its job continues in the next job by design, so
the plan counts those continuation jobs and warns.
"""

from __future__ import annotations

import math
from pathlib import Path

from cpt.rundir.paths import RunDir
from cpt import cluster
from cpt.data.group import groups
from cpt.data.shards import largest_over_mean, listing_sizes
from cpt.evaluate.steps import evaluated_steps
from cpt.plan.mix_io import mix_shard_read_hours
from cpt.chain.commands import world_size
from cpt.chain.preflight import needed, preflight_config
from cpt.plan.rates import eval_rate, eval_task_hours, rate
from cpt.plan.sources import mix_usage
from cpt.settings import ConfigError, load

GB = 1e9
FP32, BF16 = 4, 2          # bytes per parameter: DCP weights (fp32 master) and the HF export (bf16)


def _job(config: dict, rule: str, count: int, hours: float, rate_info: dict | None, tasks: int | None = None,
         **extra) -> dict:
    req = cluster.request(config, rule, tasks)
    cluster.check_policy(config, rule, req)
    nodes = req.get("nodes", 1)
    return {"count": count, "hours_estimated": hours, "hours_requested": req["hours"], "nodes": nodes,
            "partition": req["partition"] + (f"@{req['cluster']}" if "cluster" in req else ""),
            "policy_limit_hours": cluster.walltime_limit(cluster.partition_policy(config, req), req["partition"],
                                                         nodes),
            **({"rate": rate_info} if rate_info else {}), **extra}


def tokenize_job(config: dict, sizes: dict, run_dir: Path | None) -> dict:
    """Node jobs of slurm.node.cores shards each, one core per shard: a job lasts as long as its largest
    shard, the mean shard x slurm.planner.shard_balance (or the balance the source's listing gives)."""
    r = rate(config, "tokenize", run_dir)
    req = cluster.request(config, "tokenize")
    planner, size = config["slurm"]["planner"], config["slurm"]["node"]["cores"]
    shard_capacity = r["value"] * req["hours"] * 3600 / planner["safety"]   # tokens the largest shard may hold
    by_source = {}
    for name, spec in config["data"]["sources"].items():
        balance, files = planner["shard_balance"], None
        listing = RunDir(run_dir).listing(name) if run_dir else None
        if listing and Path(f"{listing}.json").exists():   # the real split: whole files, balanced by bytes
            listed = listing_sizes(listing)
            balance, files = largest_over_mean(listed, spec["shards"]), len(listed)
        per_shard = sizes[name]["tokens"] / spec["shards"]
        by_source[name] = {"shards": spec["shards"], "groups": len(groups(spec["shards"], size)),
                           "min_shards": math.ceil(sizes[name]["tokens"] * planner["shard_balance"] / shard_capacity),
                           "tokens_per_shard": per_shard, "largest_over_mean": balance,
                           "hours": per_shard * balance / r["value"] / 3600,
                           **({"files": files} if files is not None else {})}
    return _job(config, "tokenize", sum(s["groups"] for s in by_source.values()),
                max(s["hours"] for s in by_source.values()), r, workers=size, by_source=by_source)


def mix_job(config: dict, sizes: dict, run_dir: Path | None) -> dict:
    """Node jobs of slurm.node.cores mixed shards each, one core per shard (all of one size). A shard's
    hours: packing at the stage's rate (measured on local disk) plus reading its inputs from Orion,
    about one disk access per document (cpt.plan.mix_io)."""
    r = rate(config, "mix_shard", run_dir)
    settings = load(config)
    shards, size = settings.mixed_shards, config["slurm"]["node"]["cores"]
    rows = config["data"]["mix"]["rows_per_shard"]
    usage = mix_usage(settings.weights, sizes, settings.rows_to_mix * (settings.seq_len + 1),
                      config["data"]["mix"]["weighting"])
    tokens_per_document = sum(u["tokens"] for u in usage.values()) / sum(u["documents"] for u in usage.values())
    read_hours = mix_shard_read_hours(config, rows, tokens_per_document)
    hours = rows / r["value"] / 3600 + r["startup_minutes"] / 60 + read_hours
    return _job(config, "mix_shard", len(groups(shards, size)), hours, r, workers=size, shards=shards,
                read_hours=read_hours)


def download_job(config: dict, sizes: dict) -> dict:
    """download_source on the data-transfer nodes (slurm.resources.download_source): bytes over the
    transfer rate; Stack-v2 contents at the fetch's request rate (one request per file). A download
    that outlasts its walltime resumes in the next job (finished files are kept), so a source takes
    ceil(hours / requested hours) jobs, one after another (OLCF: one running DTN job per user)."""
    r = rate(config, "download", None)
    requested = cluster.request(config, "download_source")["hours"]
    by_source = {}
    for name, spec in config["data"]["sources"].items():
        hours = sizes[name].get("bytes", 0) / GB / r["value"] / 3600
        fetch = spec.get("content_fetch")
        if fetch:   # one request per file: the card estimate counts files in either document mode
            files = config["slurm"]["planner"].get("sources", {}).get(name, sizes[name])["documents"]
            hours = max(hours, files / fetch["requests_per_second"] / 3600)
        by_source[name] = {"bytes": sizes[name].get("bytes", 0), "hours": hours,
                           "jobs": max(1, math.ceil(hours / requested))}
    return _job(config, "download_source", sum(s["jobs"] for s in by_source.values()),
                max(s["hours"] for s in by_source.values()), r, by_source=by_source)


def download_warnings(job: dict, config: dict) -> list[str]:
    """Sources whose download takes over slurm.planner.max_download_hours: the data stage waits for it."""
    limit = config["slurm"]["planner"]["max_download_hours"]
    found = []
    for name, d in job["by_source"].items():
        if d["hours"] > limit:
            keys = "slurm.planner.rates.download" + (f", data.sources.{name}.content_fetch.requests_per_second"
                                                     if "content_fetch" in config["data"]["sources"][name] else "")
            found.append(f"downloading source {name} takes {d['hours']:,.0f} h ({d['hours'] / 24:,.1f} days): "
                         f"{d['jobs']} download_source jobs of {job['hours_requested']:g} h on {job['partition']}, "
                         f"each resuming the last, one running at a time (over slurm.planner.max_download_hours="
                         f"{limit:g}; rates: {keys}); Snakemake resumes it `retries` times (profile), then run "
                         f"snakemake again")
    return found


def eval_jobs(config: dict, params: float, run_dir: Path | None) -> dict:
    """eval_export (one per evaluated step after 0) and eval_task (step x task, one GCD each)."""
    steps = evaluated_steps(config["eval"]["every"], config["train"]["steps"])
    exports = [s for s in steps if s > 0]
    r = rate(config, "eval_export", run_dir)
    export_hours = params * (FP32 + BF16) / GB / r["value"] / 3600 + r["startup_minutes"] / 60
    by_task = eval_task_hours(config, run_dir)
    return {
        "eval_export": _job(config, "eval_export", len(exports), export_hours, r),
        "eval_task": _job(config, "eval_task", len(steps) * len(by_task), max(t["hours"] for t in by_task.values()),
                          None, by_task=by_task),
    }


def preflight_job(config: dict, step_seconds: float, run_dir: Path | None) -> dict:
    """The compute preflight (cpt.chain.preflight): one job on slurm.preflight.nodes before the first
    larger chain job, none when skipped or the chain is no larger. It starts as a segment does
    (slurm.planner.segment_overhead_minutes), trains its steps, then runs the first eval task's
    eval_limit samples on one GCD."""
    spec, small = config["slurm"]["preflight"], preflight_config(config)
    task = eval_rate(config, config["eval"]["tasks"][0], run_dir)
    hours = (config["slurm"]["planner"]["segment_overhead_minutes"] / 60 + spec["steps"] * step_seconds / 3600
             + task["startup_minutes"] / 60 + spec["eval_limit"] / task["value"] / 3600)
    return _job(small, "train_segment", int(needed(config)), hours, None, world_size(small))


def plan_jobs(config: dict, sizes: dict, schedule: dict, params: float, run_dir: Path | None,
              step_seconds: float) -> dict:
    """jobs.<rule> for the whole run, in DAG order (Slurm jobs: mix_plan and manifest run on the login node)."""
    return {
        "download": download_job(config, sizes),
        "tokenize": tokenize_job(config, sizes, run_dir),
        "mix_shard": mix_job(config, sizes, run_dir),
        "preflight": preflight_job(config, step_seconds, run_dir),
        "train_segment": _job(config, "train_segment", schedule["jobs"], schedule["segment_hours"], None,
                              schedule["tasks"], continuation_jobs=schedule["jobs"] - schedule["segments"]),
        **eval_jobs(config, params, run_dir),
    }


def check_jobs(config: dict, jobs: dict) -> None:
    """Raise one ConfigError listing every job whose request cannot hold its estimate (requests that
    break the queue policy raised already, in _job). Training segments and downloads continue by design."""
    safety = config["slurm"]["planner"]["safety"]
    errors = [_too_long(rule, job, safety) for rule, job in jobs.items()
              if rule not in ("train_segment", "download")     # both resume in the next job by design
              and job["hours_estimated"] * safety > job["hours_requested"]]
    errors += [f"data.sources.{name}: {s['files']} files but at least {s['min_shards']} tokenize shards are needed, "
               f"and a shard reads whole files; split the source into more files (Stack-v2: more smol-ids files "
               f"fetched, one contents file each)"
               for name, s in jobs["tokenize"]["by_source"].items() if s.get("files", math.inf) < s["min_shards"]]
    if errors:
        raise ConfigError("the plan does not fit the queue:\n  " + "\n  ".join(errors))


def _too_long(rule: str, job: dict, safety: float) -> str:
    key = "slurm.preflight.hours" if rule == "preflight" else f"slurm.resources.{rule}.hours"
    head = (f"rule {rule}: estimated {job['hours_estimated']:.2f} h x safety {safety:g} exceeds the "
            f"{job['hours_requested']:g} h requested ({key})")
    if rule == "tokenize":
        fixes = [f"raise data.sources.{n}.shards={s['shards']} -> at least {s['min_shards']}"
                 for n, s in job["by_source"].items() if s["shards"] < s["min_shards"]]
        fixes += [f"data.sources.{n}: its largest shard holds {s['largest_over_mean']:.2f}x the mean (whole files, "
                  "from its listing): split its files"
                  for n, s in job["by_source"].items() if s.get("files") and s["shards"] >= s["min_shards"]
                  and s["hours"] * safety > job["hours_requested"]]
        return f"{head}; {'; '.join(fixes)} (rate {job['rate']['value']:,.0f} {job['rate']['unit']})"
    if rule == "mix_shard":
        return f"{head}; lower data.mix.rows_per_shard (more, smaller shards)"
    return f"{head}; raise the request within slurm.partitions or split the work"
