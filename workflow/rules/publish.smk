# Results where people look (login node: compute nodes have no internet).
#   publish_hf {step}   each selected step's HF export -> the hub (config publish.hf; off by default)
#   wandb_sync          the training jobs' offline W&B run -> wandb.ai (config metrics.wandb)
# Nothing in training or evaluation depends on these rules: a failed upload stops no job of theirs.
import json

from cpt.digest import config_digest
from cpt.publish.plan import published_steps
from cpt.settings import global_batch_rows
from cpt.train.sinks import live_settings

PUBLISH_HF = (config.get("publish") or {}).get("hf")
PUBLISH_DIR = f"{RUN_DIR}/publish/hf"
# Operational settings and card facts travel in the command, not as params: Snakemake reruns
# a job whose params change, and neither a retry setting nor a card's content may do that.
PUBLISH_HUB = json.dumps(PUBLISH_HF or {})
CARD_FACTS = json.dumps({
    "run": config["run"], "base_model": config["model"].get("hub", {}).get("repo_id", config["model"]["base_dir"]),
    "mix": {name: source["weight"] for name, source in config["data"]["sources"].items()},
    "weighting": config["data"]["mix"]["weighting"], "seq_len": config["data"]["seq_len"],
    "tokens_per_step": global_batch_rows(config) * config["data"]["seq_len"], "config_digest": config_digest(config),
})
FINAL_MARKER = checkpoint_marker(SEGMENT_ENDS[-1])
LIVE_SETTINGS = json.dumps(live_settings(config))


def publish_receipt(step):
    """Written when a step is on the hub: the storage policy may remove its export after this."""
    return f"{PUBLISH_DIR}/step-{step:08d}.json"


def publish_receipts():
    """Every selected step's receipt; none when publish.hf is off."""
    if not PUBLISH_HF:
        return []
    steps = published_steps(PUBLISH_HF.get("every"), EVAL_STEPS, EVAL["every"])
    return [publish_receipt(step) for step in steps]


rule publish_hf:
    """One step's HF export to its branch (step-<N>) and, when newest, to main, with a model card."""
    input:
        f"{EVAL_DIR}/models/step-{{step}}",
    output:
        f"{PUBLISH_DIR}/step-{{step}}.json",
    wildcard_constraints:
        step=STEP_PATTERN,
    params:
        repo_id=(PUBLISH_HF or {}).get("repo_id"),  # a new repository is a reason to publish again
    log:
        f"{RUN_DIR}/logs/publish/hf/step-{{step}}.log",
    localrule: True
    shell:
        "{PY} cpt.publish --export {input} --step $((10#{wildcards.step})) --hub {PUBLISH_HUB:q}"
        " --card-facts {CARD_FACTS:q} --eval-results {EVAL_DIR}/results --receipt {output} > {log} 2>&1"


rule publish:
    """Every selected step on the hub (publish.hf)."""
    input:
        publish_receipts(),


rule wandb_sync:
    """Upload what the training jobs wrote offline to W&B (`wandb login` once on the login node)."""
    localrule: True
    shell:
        "{PY} cpt.train.wandb_sync --train-dir {TRAIN_DIR} --live {LIVE_SETTINGS:q}"
        " --final-marker {FINAL_MARKER}"
