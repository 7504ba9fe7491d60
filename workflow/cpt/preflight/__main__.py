"""python -m cpt.preflight: the login node's checks, one line each ("ok ..." or "FAIL: what; fix: ...");
exit 1 on any FAIL. Run by profiles/frontier/preflight.sh after `source profiles/frontier/env.sh`:

    profiles/frontier/preflight.sh                      # config.yaml of the workdir
    profiles/frontier/preflight.sh config.yaml mine.yaml   # the overlays snakemake gets too
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import yaml

from cpt.preflight import login
from cpt.preflight.outcome import report
from cpt.preflight.site import Site
from cpt.checks.config import load_config


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cpt.preflight", description=__doc__.splitlines()[0])
    parser.add_argument("configs", nargs="*", default=["config.yaml"], help="config.yaml, then overlays")
    parser.add_argument("--profile", type=Path, required=True,
                        help="the Frontier profile dir (config.yaml, sources.yaml)")
    parser.add_argument("--timeout", type=float, default=30, help="seconds a Slurm or conda command may take")
    args = parser.parse_args(argv)
    site = Site(env=dict(os.environ), config=load_config(args.configs),
                profile=yaml.safe_load((args.profile / "config.yaml").read_text()),
                sources=yaml.safe_load((args.profile / "sources.yaml").read_text()), cwd=Path.cwd(),
                timeout_s=args.timeout)
    text, status = report(login.run(site))
    print(text)
    return status


if __name__ == "__main__":
    sys.exit(main())
