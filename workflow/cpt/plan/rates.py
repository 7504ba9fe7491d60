"""Job throughput: config.yaml's cited rates, replaced by what an earlier run's logs measured.

Rates are data (slurm.planner.rates): each has a value, a unit and its source. A finished job
of the same run measures better than any citation, so the planner reads the run's own logs
(the RateLogger line each stage ends with: `..., 61,234 tokens/s, ..., done in 812.3 s`) and,
for evaluations, each result's `elapsed_s`.
"""

from __future__ import annotations

import json
import re
import statistics
from pathlib import Path

from cpt.rundir.paths import RunDir
from cpt.settings import ConfigError

# rule -> (its logs under <run>/logs, the RateLogger counter that is the rate's unit)
# (each shard's own log; a node job's group-*.log beside them holds no rate)
MEASURED_IN_LOGS = {"tokenize": ("tokenize/*/[0-9]*.log", "tokens"), "mix_shard": ("mix_shard/[0-9]*.log", "rows")}


def _checked(entry: dict, key: str) -> dict:
    if not entry["value"] > 0:
        raise ConfigError(f"{key}.value is {entry['value']}; a rate must be > 0 (give the measured or cited "
                          f"throughput, with its source)")
    return entry


def configured(config: dict, rule: str) -> dict:
    """slurm.planner.rates.<rule>, checked; a missing one is an error naming the key."""
    rates = config["slurm"]["planner"].get("rates", {})
    if rule not in rates:
        raise ConfigError(f"slurm.planner.rates.{rule} is not set; add {{value: N, unit: ..., source: ...}} "
                          f"(the planner estimates every {rule} job from it)")
    return _checked(rates[rule], f"slurm.planner.rates.{rule}")


def logged_rate(logs: list[Path], counter: str) -> float | None:
    """Median of the finished jobs' final `<n> <counter>/s` figure; None without a finished job."""
    pattern = re.compile(rf"([\d,.]+) {re.escape(counter)}/s\b")
    rates = []
    for log in logs:
        finished = [line for line in log.read_text(errors="replace").splitlines() if "done in" in line]
        found = pattern.search(finished[-1]) if finished else None
        if found:
            rates.append(float(found.group(1).replace(",", "")))
    return statistics.median(rates) if rates else None


def rate(config: dict, rule: str, run_dir: Path | None) -> dict:
    """{value, unit, from, startup_minutes}: measured in `run_dir`'s logs when they hold a finished job."""
    entry = configured(config, rule)
    result = {"value": entry["value"], "unit": entry.get("unit", ""),
              "startup_minutes": entry.get("startup_minutes", 0),
              "from": f"config (slurm.planner.rates.{rule}: {entry['source']})"}
    if run_dir is not None and rule in MEASURED_IN_LOGS:
        pattern, counter = MEASURED_IN_LOGS[rule]
        logs = sorted(RunDir(run_dir).logs.glob(pattern))
        measured = logged_rate(logs, counter)
        if measured:
            result.update(value=measured, unit=f"{counter}/s",
                          **{"from": f"measured ({len(logs)} logs, {RunDir(run_dir).logs})"})
    return result


def eval_rate(config: dict, task: dict, run_dir: Path | None) -> dict:
    """Samples/s of one eval task on one GCD; measured from full (unlimited) results of the run."""
    rates = config["slurm"]["planner"].get("rates", {}).get("eval_task", {})
    key = f"slurm.planner.rates.eval_task.{task['name']}"
    if task["name"] not in rates:
        raise ConfigError(f"{key} is not set; add {{samples: N, value: samples/s per GCD, source: ...}} for "
                          f"eval task {task['name']} (eval.tasks)")
    entry = _checked(rates[task["name"]], key)
    result = {"value": entry["value"], "samples": entry["samples"], "unit": "samples/s per GCD",
              "startup_minutes": entry.get("startup_minutes", 0), "from": f"config ({key}: {entry['source']})"}
    if run_dir is not None:
        results = RunDir(run_dir).eval_results
        records = [json.loads(p.read_text()) for p in sorted(results.glob(f"step-*/{task['name']}.json"))]
        elapsed = [r["elapsed_s"] for r in records if r.get("status") == "ok" and r.get("limit") is None]
        if elapsed:
            seconds = statistics.median(elapsed) - 60 * result["startup_minutes"]
            result.update(value=entry["samples"] / max(seconds, 1.0),
                          **{"from": f"measured ({len(elapsed)} results under {results})"})
    return result


def eval_task_hours(config: dict, run_dir: Path | None) -> dict[str, dict]:
    """Per eval task: hours of one run on one GCD (samples / rate + start-up) and the rate behind it."""
    hours = {}
    for task in config["eval"]["tasks"]:
        r = eval_rate(config, task, run_dir)
        hours[task["name"]] = {"hours": r["samples"] / r["value"] / 3600 + r["startup_minutes"] / 60, "rate": r}
    return hours
