"""`python -m cpt.convert.export`: a complete checkpoint as a self-contained HF dir (for evaluation)."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from cpt.train.hf import export_checkpoint

log = logging.getLogger("cpt")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cpt.convert.export", description=__doc__)
    parser.add_argument("--checkpoint", type=Path, required=True, help="a step-<N> dir with complete.json")
    parser.add_argument("--base-dir", type=Path, required=True, help="the HF base dir (config, tokenizer)")
    parser.add_argument("--out", type=Path, required=True, help="the HF dir to write (replaced atomically)")
    ns = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    log.info("exported %s", export_checkpoint(ns.checkpoint, ns.base_dir, ns.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
