"""`python -m cpt.convert.import_base`: step 0 of a run, imported from the HF base model dir.

One process reads the safetensors into native names (fp32 master weights) and
writes a weights-only DCP checkpoint with its completion marker; training on
any mesh reshards it on load.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from cpt.train import checkpoint, hf

log = logging.getLogger("cpt")


def import_base(base_dir: str | Path, checkpoints: str | Path) -> Path:
    base_dir = Path(base_dir)
    state = hf.load_hf_state_dict(base_dir)
    expected = hf.expected_shapes(base_dir)
    if "lm_head.weight" in expected and "lm_head.weight" not in state and "embed_tokens.weight" in state:
        state["lm_head.weight"] = state["embed_tokens.weight"]  # tied embeddings are stored once
    hf.check_state_dict(state, expected, str(base_dir))
    path = checkpoint.step_dir(checkpoints, 0)
    checkpoint.save_weights(path, state, {"step": 0, "rows_consumed": 0, "tokens_seen": 0,
                                          "base_dir": str(base_dir)})
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cpt.convert.import_base", description=__doc__)
    parser.add_argument("--base-dir", type=Path, required=True, help="HF Llama dir")
    parser.add_argument("--checkpoints", type=Path, required=True, help="results/<run>/train/checkpoints")
    ns = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    log.info("imported %s", import_base(ns.base_dir, ns.checkpoints))
    return 0


if __name__ == "__main__":
    sys.exit(main())
