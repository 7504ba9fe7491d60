"""`python -m cpt.plan.sweep_table`: the sweep's table.csv, table.md and plot.png from its layouts'
records (cpt.train.bench), beside the modelled figures (cpt.plan.sweep.write_table)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from cpt.plan.sweep import write_table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cpt.plan.sweep_table", description=__doc__.split("\n")[0])
    parser.add_argument("records", nargs="+", type=Path, help="cpt.train.bench records (sweep/layouts/<layout>.json)")
    parser.add_argument("--config-json", required=True, help="the effective config as JSON (the rule passes it)")
    parser.add_argument("--out-dir", type=Path, required=True)
    ns = parser.parse_args(argv)
    write_table([json.loads(p.read_text()) for p in ns.records], json.loads(ns.config_json), ns.out_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
