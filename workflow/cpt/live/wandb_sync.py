"""`python -m cpt.live.wandb_sync`: upload a run's offline W&B data from the login node.

Training jobs write the W&B run offline (compute nodes have no internet); this
uploads every offline dir of the run not yet synced, in start order, to the one run
id they share. Once training has finished, eval results that arrived after the last
training job (the final step's) are first added to the run, as the jobs would have.
The newest dir is left while a job may still write it; after `wandb sync` (which exits 0
on a failed upload) any dir still without its uploaded marker fails the command, named.
Needs `wandb login` (or WANDB_API_KEY) on the login node.
"""

from __future__ import annotations

import argparse
import json
import logging
import netrc
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

from cpt.live.wandb_files import CLOSED, offline_runs
from cpt.live.wandb_sink import WandbSink, run_id

log = logging.getLogger("cpt")


class SyncError(RuntimeError):
    """Nothing can be uploaded as configured; the message says what to fix."""


def logged_in() -> bool:
    """An API key from WANDB_API_KEY or ~/.netrc (where `wandb login` stores it)."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    host = urlparse(os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai")).hostname
    try:
        return netrc.netrc().authenticators(host) is not None
    except (FileNotFoundError, netrc.NetrcParseError):
        return False


def unsynced(wandb_dir: Path) -> list[Path]:
    """Offline dirs without the marker `wandb sync` leaves beside a run file it uploaded."""
    return [run for run in offline_runs(wandb_dir) if not any(run.glob("*.wandb.synced"))]


def still_written(runs: list[Path], training_done: bool) -> list[Path]:
    """The newest offline dir while training runs, unless its sink closed it: a job may be writing it.
    Jobs write one at a time, so an older dir's writer has ended, cleanly or not."""
    newest = runs[-1:] if runs and not training_done else []
    return [run for run in newest if not (run / CLOSED).exists()]


def sync(train_dir: Path, live: dict, training_done: bool) -> list[Path]:
    settings = live.get("wandb")
    if not settings:
        raise SyncError("metrics.wandb is not set in the config: the training jobs wrote no W&B run. "
                        "Set metrics.wandb.project (and entity) to log the next segments")
    wandb_dir = train_dir / "wandb"
    if training_done:  # no trainer is logging: the evals that finished since are this command's to add
        sink = WandbSink(wandb_dir, settings, {}, eval_results=live.get("eval_results"), mode="offline")
        log.info("added %d eval results to the W&B run", sink.log_evals())
        sink.close()
    runs = unsynced(wandb_dir)
    for run in still_written(runs, training_done):
        log.info("%s: left for the next sync (newest, not closed: its training job may still be writing it)", run)
        runs.remove(run)
    if not runs:
        log.info("%s: %s", wandb_dir, "every offline W&B dir is already uploaded" if offline_runs(wandb_dir)
                 else "no offline W&B data yet (no training job has logged with metrics.wandb set)")
        return []
    if not logged_in():
        raise SyncError("no W&B API key on this node: run `wandb login` on the login node (or export "
                        "WANDB_API_KEY), then `snakemake wandb_sync` again")
    command = ["wandb", "sync", "--id", run_id(wandb_dir, settings.get("id")), "-p", settings["project"]]
    command += ["-e", settings["entity"]] if settings.get("entity") else []
    log.info("uploading %d offline dirs: %s", len(runs), " ".join(command))
    done = subprocess.run([*command, *map(str, runs)])
    # wandb sync (0.31) exits 0 when an upload fails or the key is refused: what it uploaded has its marker
    left = [run for run in runs if run in unsynced(wandb_dir)]
    if done.returncode or left:
        raise SyncError(f"`wandb sync` exited {done.returncode} and {len(left)} of {len(runs)} dirs are not uploaded "
                        f"({', '.join(run.name for run in left) or 'none'}): check the login node's network, the API "
                        f"key (`wandb login`) and metrics.wandb.project/entity ({settings['project']}/"
                        f"{settings.get('entity')}); the offline data stays and the next sync retries")
    return runs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cpt.live.wandb_sync", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train-dir", type=Path, required=True)
    parser.add_argument("--live", type=json.loads, required=True, help="config metrics: and eval_results, as JSON")
    parser.add_argument("--final-marker", type=Path, required=True,
                        help="the final step's complete.json: training is done when it exists")
    ns = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        sync(ns.train_dir, ns.live, ns.final_marker.exists())
    except SyncError as err:
        log.error("%s", err)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
