"""python -m cpt.status [configs...]: print where the run stands (and --json, --plot)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from cpt.rundir.paths import RunDir
from cpt.digest import config_digest, training_digest
from cpt.checks.config import add_config_arguments, config_from_arguments
from cpt.settings import ConfigError
from cpt.status.disk import disk_usage
from cpt.status.evals import eval_state
from cpt.status.slurm import CHAIN, queued_jobs
from cpt.status.writer import local_trainer
from cpt.status.training import eta_hours, training_state

TB = 1e12


def size(tb: float) -> str:
    """Terabytes at a readable scale: 1.23 TB, 45.6 GB, 7.8 MB."""
    for scale, unit in ((1, "TB"), (1e-3, "GB"), (1e-6, "MB")):
        if tb >= scale:
            return f"{tb / scale:.2f} {unit}"
    return f"{tb * 1e9:.0f} kB"


def days_hm(hours: float) -> str:
    """A duration as days and h:m: '263 d 04:12'."""
    minutes = round(hours * 60)
    days, minutes = divmod(minutes, 24 * 60)
    return f"{days} d {minutes // 60:02d}:{minutes % 60:02d}" if days else f"{minutes // 60:d}:{minutes % 60:02d} h:m"


def planned_storage(config: dict) -> dict[str, float]:
    """The planner's TB per kind of output, where the planner has a storage table."""
    from cpt.plan import make_plan

    try:
        return make_plan(config).get("storage", {})
    except (ConfigError, KeyError, ValueError):
        return {}


def collect(config: dict, *, with_disk: bool = True) -> dict:
    """Everything the view shows, as plain data (what --json writes)."""
    run_dir = RunDir.of(config).root
    train = training_state(config, run_dir)
    jobs, queue_note = queued_jobs(config["run"])
    ours = [j for j in jobs or [] if j.rule == CHAIN]
    running = [j for j in ours if j.state == "RUNNING"]
    local = local_trainer(RunDir(run_dir).writer, config["train"]["chain"]["stale_minutes"])
    hours, eta_basis = eta_hours(train, config, running=bool(running or local))
    evals = eval_state(config, run_dir)
    status = {
        "run": config["run"], "run_dir": str(run_dir),
        "config_digest": config_digest(config), "training_digest": training_digest(config),
        "segments": {"total": len(train.segment_ends), "done": len(train.done),
                     "running": [vars(j) for j in running], "queued": [vars(j) for j in ours if j.state != "RUNNING"],
                     "pending": train.pending, "local": local},
        "last": train.last, "step_seconds": train.step_seconds,
        "eta_hours": hours, "eta": days_hm(hours) if hours is not None else "finished", "eta_basis": eta_basis,
        "evals": {str(step): row for step, row in evals.items()},
        "slurm": queue_note if jobs is None else f"{len(jobs or [])} jobs of this user from squeue",
        "problems": train.problems + ([queue_note] if jobs is None else []),
    }
    if with_disk:
        planned = planned_storage(config)
        status["disk_tb"] = {kind: {"used": used / TB, "planned": planned.get(f"{kind}_tb")}
                             for kind, used in disk_usage(config, run_dir).items()}
    return status


def render(s: dict) -> str:
    seg = s["segments"]
    lines = [f"run        {s['run']} ({s['run_dir']}); config digest {s['config_digest']}, "
             f"training digest {s['training_digest']}",
             f"segments   {seg['done']}/{seg['total']} done, {len(seg['running'])} running, "
             f"{len(seg['queued'])} queued, {len(seg['pending'])} not done"]
    lines += [f"  running  job {j['job_id']}: {j['nodes']} nodes, elapsed {j['elapsed']}" for j in seg["running"]]
    lines += [f"  queued   job {j['job_id']}: {j['state']} ({j['reason']})" for j in seg["queued"]]
    if (local := seg["local"]) is not None:
        lines.append(f"  running  local trainer pid {local['pid']} on {local['host']}, "
                     f"heartbeat {local['heartbeat_age_s']:.0f} s ago")
    if (last := s["last"]) is not None:
        mfu = f" | MFU {100 * last['mfu']:.1f}%" if last.get("mfu") is not None else ""
        lines.append(f"last log   step {last['step']:,} | loss {last['loss']:.4f} | "
                     f"{last.get('tokens_per_s_per_device', 0):,.0f} tokens/s per GCD{mfu} | "
                     f"{s['step_seconds'] or last.get('step_time_s', 0):.2f} s/step")
    else:
        lines.append("last log   no training step logged yet")
    lines.append(f"ETA        {s['eta']}" + (f" ({s['eta_basis']})" if s["eta_hours"] is not None else ""))
    done = sum(len(r["done"]) for r in s["evals"].values())
    total = sum(len(r["done"]) + len(r["failed"]) + len(r["missing"]) for r in s["evals"].values())
    lines.append(f"evals      {done}/{total} done")
    for step, row in s["evals"].items():
        if row["failed"] or (row["missing"] and row["done"]):
            lines.append(f"  step {int(step):>8,}  missing {', '.join(row['missing']) or '-'}; "
                         f"failed {', '.join(row['failed']) or '-'}")
    missing_steps = [int(step) for step, row in s["evals"].items() if not row["done"] and not row["failed"]]
    if missing_steps:
        shown = ", ".join(f"{step:,}" for step in missing_steps[:6]) + (" ..." if len(missing_steps) > 6 else "")
        lines.append(f"  not evaluated yet: {len(missing_steps)} steps ({shown})")
    for kind, tb in s.get("disk_tb", {}).items():
        planned = f" (planned {size(tb['planned'])})" if tb["planned"] is not None else ""
        lines.append(f"disk       {kind:<12} {size(tb['used']):>10}{planned}")
    lines += [f"note       {problem}" for problem in s["problems"]]
    return "\n".join(lines)


def plot(s: dict, records: list[dict], out: Path) -> None:
    """A small PNG of loss and tokens/s per GCD so far."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(6, 4.5), sharex=True)
    steps = [r["step"] for r in records]
    top.plot(steps, [r["loss"] for r in records])
    top.set_ylabel("loss")
    bottom.plot(steps, [r.get("tokens_per_s_per_device") for r in records])
    bottom.set_ylabel("tokens/s per GCD")
    bottom.set_xlabel("step")
    top.set_title(f"{s['run']}: {s['segments']['done']}/{s['segments']['total']} segments, ETA {s['eta']}")
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cpt.status", description=__doc__.split("\n")[0])
    add_config_arguments(parser, "status")
    parser.add_argument("--json", type=Path, help="also write the status as JSON here")
    parser.add_argument("--plot", type=Path, help="also draw loss and tokens/s so far into this PNG")
    parser.add_argument("--no-disk", action="store_true", help="skip walking the output dirs (large Lustre trees)")
    args = parser.parse_args(argv)
    try:
        config = config_from_arguments(args)
    except (ConfigError, OSError) as err:
        print(f"status: error: {err}", file=sys.stderr)
        return 1
    status = collect(config, with_disk=not args.no_disk)
    print(render(status))
    if args.json:
        args.json.write_text(json.dumps(status, indent=1) + "\n")
    if args.plot:
        records = training_state(config, Path(status["run_dir"])).records
        if records:
            plot(status, records, args.plot)
    return 0


if __name__ == "__main__":
    sys.exit(main())
