"""python -m cpt.checks: check a config as the workflow's controller does; exit 1 listing every error.

    python -m cpt.checks config.yaml configs/demo.yaml      # the files, overlaid in order
    python -m cpt.checks --config-json '{...}'               # the workflow's effective config

On the login node after `snakemake download_model`, it checks heads and positions against
the downloaded config.json (the dry run used slurm.planner.model until then).
"""

from __future__ import annotations

import argparse
import json
import sys

from cpt import checks
from cpt.checks.config import load_config


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cpt.checks", description=__doc__.splitlines()[0])
    parser.add_argument("configs", nargs="*", default=["config.yaml"], help="config.yaml, then overlays")
    parser.add_argument("--config-json", help="the effective config as JSON (instead of files)")
    args = parser.parse_args(argv)
    try:
        if args.config_json:
            findings = checks.load(json.loads(args.config_json), "the workflow's config")
        else:
            findings = checks.run(load_config(args.configs))  # load_config raises on errors
    except checks.ConfigErrors as err:
        print(err, file=sys.stderr)
        return 1
    print(findings.report() or "config OK: no errors, warnings or pending checks", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
