"""Build the embedded demo: python -m cpt.demo [DIR] (default demo/).

Writes DIR/sources/ (six corpora in the real sources' layouts) and DIR/model/
(tiny Llama base model with a BPE tokenizer trained on those corpora). Offline,
deterministic, a few seconds; skipped when DIR/model already exists.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

from cpt.demo.base_model import save_base_model, train_tokenizer
from cpt.demo.corpora import all_text, build_sources

log = logging.getLogger("cpt")


def build(out: Path, force: bool = False) -> None:
    if (out / "model" / "config.json").exists() and not force:
        log.info("demo already built at %s (pass --force to rebuild)", out)
        return
    start = time.monotonic()
    counts = build_sources(out / "sources")
    log.info("demo sources: %s documents", counts)
    save_base_model(out / "model", train_tokenizer(all_text(out / "sources")))
    log.info("demo built at %s in %.1f s", out, time.monotonic() - start)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out", nargs="?", default="demo", type=Path)
    parser.add_argument("--force", action="store_true", help="rebuild even if the demo exists")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    build(args.out, args.force)


if __name__ == "__main__":
    main()
