"""python -m cpt.plan: print the plan of a config (and write it as JSON)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from cpt.plan import __doc__ as PLAN_DOC
from cpt.plan.make import make_plan, render
from cpt.rundir.paths import RunDir
from cpt.checks.config import add_config_arguments, config_from_arguments
from cpt.settings import ConfigError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cpt.plan", description=PLAN_DOC.split("\n")[0])
    add_config_arguments(parser, "plan")
    parser.add_argument("--manifest", type=Path, help="a finished mix's manifest.json (default: the run's, if any)")
    parser.add_argument("--metrics", type=Path, help="an earlier run's metrics.jsonl (default: the run's, if any)")
    parser.add_argument("--measured", type=Path, metavar="GPU_TRAIN_JSON",
                        help="benchmarks/gpu_train.py --json output: its seconds/step and memory replace the modelled "
                             "ones where its shape matches (default: slurm.planner.gpu_benchmark)")
    parser.add_argument("--layouts", action="store_true",
                        help="print every candidate layout of the run's ranks (mesh, micro-batch, activation "
                             "checkpointing), ranked by modelled step time, with memory per GCD (the JSON always "
                             "has them)")
    parser.add_argument("--queue-wait-hours", type=float)
    parser.add_argument("--json", type=Path, help="also write the plan as JSON here")
    parser.add_argument("--trace-memory", action="store_true",
                        help="also trace memory per GCD with the real trainer at full shape on a fake process "
                             "group (CPU, compile off; minutes for an 8B model)")
    args = parser.parse_args(argv)
    try:
        config = config_from_arguments(args)
        run = RunDir.of(config)
        manifest_path = args.manifest or run.manifest
        if args.trace_memory:
            print("plan: tracing memory per GCD with the trainer at full shape on a fake process group "
                  "(compile off; minutes of CPU for an 8B model)...", file=sys.stderr, flush=True)
        plan = make_plan(config, manifest=json.loads(manifest_path.read_text()) if manifest_path.exists() else None,
                         metrics=args.metrics or run.metrics,
                         queue_wait_hours=args.queue_wait_hours, run_dir=run.root, trace_memory=args.trace_memory,
                         gpu_benchmark=args.measured)
    except ConfigError as e:
        print(f"plan: error: {e}", file=sys.stderr)
        return 1
    print(render(plan, all_layouts=args.layouts))
    for warning in plan["warnings"]:
        print(f"plan: warning: {warning}", file=sys.stderr)
    if args.json:
        args.json.write_text(json.dumps(plan, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
