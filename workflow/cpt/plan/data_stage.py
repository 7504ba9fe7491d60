"""The data stage on the calendar: node-hours charged, days on the DTN and batch sides, the whole
run from the first download to the last eval, and how long each data product waits to be read.

Downloads run one after another on the data-transfer nodes (slurm.queue.dtn_running_jobs), each
24 h job resuming the last. Tokenize holds until every download is done (the DAG: each tokenize
job lists every download record as an input), then tokenize and mix node jobs run in waves of
slurm.queue.batch_eligible_jobs, each wave waiting slurm.planner.data_queue_wait_hours and lasting
its longest job. With that order the products that could outlive Orion's purge
(slurm.planner.purge_days; files unread that long are deleted) are: a source's first raw files,
read by tokenize only after every download; tokenized shards, read by the mix; mixed shards,
opened by every training segment. A wait past the purge is a plan error naming the fix.
"""

from __future__ import annotations

from cpt.settings import ConfigError, load


def waves(hours: list[float], at_once: int, wait: float) -> float:
    """Hours for jobs run `at_once` at a time, longest first: each wave waits, then lasts its longest job."""
    ordered = sorted(hours, reverse=True)
    return sum(wait + max(ordered[i:i + at_once]) for i in range(0, len(ordered), at_once))


def data_stage(config: dict, sizes: dict, jobs: dict, schedule: dict, evaluation: dict) -> dict:
    """plan.data_stage: node-hours charged and core-hours of tokenize + mix, download_days, batch_days,
    calendar_days_total (first download to last eval) and each product's longest wait (days)."""
    planner, queue = config["slurm"]["planner"], config["slurm"]["queue"]
    wait = planner["data_queue_wait_hours"]
    tokenize, mix, download = jobs["tokenize"], jobs["mix_shard"], jobs["download"]
    tokenize_jobs = [s["hours"] for s in tokenize["by_source"].values() for _ in range(s["groups"])]
    mix_jobs = [mix["hours_estimated"]] * mix["count"]
    work_hours = (sum(s["tokens"] for s in sizes.values()) / tokenize["rate"]["value"]
                  + load(config).rows_to_mix / mix["rate"]["value"]) / 3600
    download_hours = (sum(d["hours"] for d in download["by_source"].values())
                      + download["count"] * wait) / queue["dtn_running_jobs"]
    tokenize_hours = waves(tokenize_jobs, queue["batch_eligible_jobs"], wait)
    mix_hours = waves(mix_jobs, queue["batch_eligible_jobs"], wait)
    final_eval_hours = wait + jobs["eval_export"]["hours_estimated"] + evaluation["hours_per_node_job"]
    between_reads = planner["queue_wait_hours"] + schedule["segment_hours"]  # each segment opens every mixed shard
    longest = max(download["by_source"], key=lambda name: download["by_source"][name]["hours"])
    return {
        "node_hours_charged": sum(tokenize_jobs) + sum(mix_jobs), "core_hours": work_hours,
        "node_jobs": {"tokenize": len(tokenize_jobs), "mix_shard": len(mix_jobs)},
        "download_days": download_hours / 24, "tokenize_days": tokenize_hours / 24, "mix_days": mix_hours / 24,
        "batch_days": (tokenize_hours + mix_hours) / 24,
        "calendar_days_total": (download_hours + tokenize_hours + mix_hours + final_eval_hours) / 24
                               + schedule["calendar_days"],
        "order": "tokenize holds until every download is done (DAG: every download record is a tokenize input)",
        "longest_download": longest,
        "waits_days": {"raw": (download_hours + tokenize_hours) / 24, "tokenized": (tokenize_hours + mix_hours) / 24,
                       "mixed": between_reads / 24},
    }


def check_purge(stage: dict, config: dict) -> None:
    """Refuse a plan in which a data product waits longer than the purge window before it is read."""
    purge, waits = config["slurm"]["planner"]["purge_days"], stage["waits_days"]
    name = stage["longest_download"]
    rate_key = (f"data.sources.{name}.content_fetch.requests_per_second (measure it on a DTN)"
                if config["data"]["sources"][name].get("content_fetch") else "slurm.planner.rates.download")
    fixes = {
        "raw": f"source {name}: the downloads take {stage['download_days']:.1f} days one after another on the DTN "
               f"and tokenize holds until the last, so the first raw files wait {waits['raw']:.1f} days; raise "
               f"{rate_key} or download less of it",
        "tokenized": f"tokenized shards wait {waits['tokenized']:.1f} days for the mix ({stage['tokenize_days']:.1f} "
                     f"days of tokenize and {stage['mix_days']:.1f} of mix node jobs); fewer, larger data jobs "
                     "(data.sources.<name>.shards, data.mix.rows_per_shard) shorten it",
        "mixed": f"mixed shards are opened once per training segment, {waits['mixed']:.1f} days apart (segment plus "
                 "slurm.planner.queue_wait_hours); lower train.steps_per_segment",
    }
    over = [fixes[product] for product, days in waits.items() if days > purge]
    if over:
        raise ConfigError(f"data products would wait past the {purge:g}-day purge (slurm.planner.purge_days) before "
                          "they are read:\n  " + "\n  ".join(over))


def render_data_stage(stage: dict) -> list[str]:
    """The data stage's lines of the text plan."""
    jobs = stage["node_jobs"]
    return [f"data stage        {jobs['tokenize']} tokenize + {jobs['mix_shard']} mix node jobs: "
            f"{stage['node_hours_charged']:,.1f} node-hours charged for {stage['core_hours']:,.0f} core-hours",
            f"  days            download {stage['download_days']:.1f} (DTN)  batch {stage['batch_days']:.1f}  "
            f"first download to last eval {stage['calendar_days_total']:,.1f}",
            "  longest unread  " + "  ".join(f"{k} {v:.1f} d" for k, v in stage["waits_days"].items())
            + f"  ({stage['order']})"]
