"""python -m cpt.report: tables and plots of a run's evaluation and training.

    python -m cpt.report --run-dir results/demo --steps 0,150,300 \
        --task Arith=acc --task Count=acc_norm --tokens-per-step 1024 \
        --loss-bin-steps 100 --coarse-bin-steps 50 --out-dir results/demo/report

Missing, failed or corrupt results are listed in the report, never fatal.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cpt.report.make import ReportSpec, make_report


def parse_task(text: str) -> tuple[str, str]:
    name, sep, metric = text.partition("=")
    if not sep or not name or not metric:
        raise argparse.ArgumentTypeError(f"--task wants NAME=METRIC (e.g. ARC-C=acc), got {text!r}")
    return name, metric


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run-dir", type=Path, required=True)
    parser.add_argument("--steps", required=True, help="evaluated steps, comma-separated")
    parser.add_argument("--task", type=parse_task, action="append", required=True,
                        help="NAME=METRIC per column, in order")
    parser.add_argument("--tokens-per-step", type=int, default=None,
                        help="global batch tokens; used where metrics.jsonl lacks tokens_seen")
    parser.add_argument("--loss-bin-steps", type=int, required=True, help="report.loss_bin_steps")
    parser.add_argument("--coarse-bin-steps", type=int, required=True, help="report.coarse_bin_steps")
    parser.add_argument("--config-digest", default=None,
                        help="the run's cpt.digest.config_digest, printed with the table")
    parser.add_argument("--out-dir", type=Path, required=True)
    args = parser.parse_args(argv)
    spec = ReportSpec(args.run_dir, [int(s) for s in args.steps.split(",")], dict(args.task),
                      args.out_dir, args.tokens_per_step, args.loss_bin_steps, args.coarse_bin_steps,
                      args.config_digest)
    for line in make_report(spec):
        print(f"report: {line[2:]}", file=sys.stderr)
    print(f"report: {args.out_dir / 'results.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
