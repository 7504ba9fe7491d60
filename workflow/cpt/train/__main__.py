"""`python -m cpt.train`: run one training segment on every rank (torchrun or srun)."""

from __future__ import annotations

from cpt.train.stop import StopRequest

STOP = StopRequest()  # before torch is imported: a time-limit warning during start-up is kept, not fatal

import argparse  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

from cpt.train.config import load_train_config  # noqa: E402
from cpt.train.loop import Paths, run  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cpt.train", description=__doc__)
    parser.add_argument("--train-config", required=True,
                        help="the train: section as a YAML/JSON file or inline JSON (what the rule passes)")
    parser.add_argument("--manifest", type=Path, required=True, help="the mix's manifest.json")
    parser.add_argument("--base-dir", type=Path, required=True, help="HF base model dir (config, tokenizer)")
    parser.add_argument("--train-dir", type=Path, required=True, help="results/<run>/train (checkpoints/, metrics)")
    parser.add_argument("--seq-len", type=int, required=True, help="data.seq_len")
    parser.add_argument("--until-step", type=int, help="last step of this segment (default: train.steps)")
    parser.add_argument("--training-digest", help="cpt.digest.training_digest of the config, for complete.json")
    parser.add_argument("--config-digest", help="cpt.digest.config_digest of the config, for complete.json")
    parser.add_argument("--live", type=json.loads, default={},
                        help="live metrics as JSON: config `metrics:` (wandb) and eval_results (the results dir)")
    ns = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    cfg = load_train_config(ns.train_config)
    run(cfg, Paths(ns.manifest, ns.base_dir, ns.train_dir, ns.live), seq_len=ns.seq_len,
        until_step=min(ns.until_step or cfg.steps, cfg.steps),
        digests={"training": ns.training_digest, "config": ns.config_digest}, stop=STOP)
    return 0


if __name__ == "__main__":
    sys.exit(main())
