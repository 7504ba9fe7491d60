"""`python -m cpt.publish`: one step's HF export to the hub (login node), then a receipt.

    python -m cpt.publish --export results/run/eval/models/step-00073500 --step 73500 \
        --config-file results/run/config.json --eval-results results/run/eval/results \
        --receipt results/run/publish/hf/step-00073500.json

The receipt (written last, atomically) lists the revisions and what was uploaded or
skipped; a failure exits 1 with the setting to fix, and the next snakemake run retries.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import logging
import sys
from pathlib import Path

from cpt.atomic import write_json
from cpt.publish.card import card_facts, eval_results, model_card
from cpt.publish.hub import PublishError, publish
from cpt.publish.plan import CARD, STATE_FILE
from cpt.rundir.config import read_config

log = logging.getLogger("cpt")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cpt.publish", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--export", type=Path, required=True, help="the step's HF dir (cpt.convert.export)")
    parser.add_argument("--step", type=int, required=True)
    parser.add_argument("--config-file", type=Path, required=True,
                        help="the controller's record of the config (cpt.rundir.config): publish.hf and the "
                             "card's facts")
    parser.add_argument("--eval-results", type=Path, required=True, help="results/<run>/eval/results")
    parser.add_argument("--receipt", type=Path, required=True)
    ns = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    config = read_config(ns.config_file)
    hub, facts = config["publish"]["hf"], card_facts(config)
    state = {"step": ns.step, "tokens_seen": ns.step * facts["tokens_per_step"], "run": facts["run"],
             "config_digest": facts["config_digest"]}
    extra = {CARD: model_card(ns.step, facts, eval_results(ns.eval_results)).encode(),
             STATE_FILE: (json.dumps(state, indent=2) + "\n").encode()}
    ns.receipt.parent.mkdir(parents=True, exist_ok=True)
    try:
        # One publish at a time per run: two jobs reading main's step at once could leave main
        # on the older one, and 16 GB uploads gain nothing from sharing one login node's link.
        with open(ns.receipt.parent / ".publish.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            plan, commits = publish(ns.export, ns.step, hub, extra)
    except PublishError as err:
        log.error("%s. Training and evaluation are unaffected; the next snakemake run retries this step.", err)
        return 1
    write_json(ns.receipt, {**state, "repo_id": hub["repo_id"], "commits": commits, "plan": plan.summary()})
    log.info("published step %d to %s: %s", ns.step, hub["repo_id"], commits)
    return 0


if __name__ == "__main__":
    sys.exit(main())
