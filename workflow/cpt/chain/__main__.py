"""`python -m cpt.chain segment|job|preflight-job`: the controller's train_segment job, a chain job's batch
script, or the compute preflight's (cpt.chain.preflight)."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from cpt.chain import lease, preflight
from cpt.chain.commands import ChainError
from cpt.chain.job import job
from cpt.chain.segment import segment
from cpt.rundir.config import read_config

log = logging.getLogger("cpt")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cpt.chain", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    seg = sub.add_parser("segment", help="controller side: make step --step complete, write --out")
    seg.add_argument("--config-file", type=Path, required=True,
                     help="the controller's record of the validated config (cpt.rundir.config)")
    seg.add_argument("--step", type=int, required=True, help="the segment's last step")
    seg.add_argument("--out", type=Path, required=True, help="the segment's record (the rule's output)")
    seg.add_argument("--mode", choices=["slurm", "local"], required=True,
                     help="slurm: drive a chain of Slurm jobs (a Slurm profile is active); local: train here")
    chain_job = sub.add_parser("job", help="a chain job's batch script (submitted by `segment`)")
    chain_job.add_argument("--train-dir", type=Path, required=True)
    check_job = sub.add_parser("preflight-job", help="the compute preflight's batch script (cpt.chain.preflight)")
    check_job.add_argument("--train-dir", type=Path, required=True)
    ns = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    try:
        if ns.command == "job":
            return job(ns.train_dir)
        if ns.command == "preflight-job":
            return preflight.job(ns.train_dir)
        segment(read_config(ns.config_file), ns.step, ns.out, ns.mode == "slurm")
    except (ChainError, lease.LeaseError) as err:
        log.error("%s", err)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
