# Results where people look (login node: compute nodes have no internet).
#   publish_hf {step}   each selected step's HF export -> the hub (config publish.hf; off by default)
#   wandb_sync          the training jobs' offline W&B run -> wandb.ai (config metrics.wandb)
# Nothing in training or evaluation depends on these rules: a failed upload stops no job of theirs.
from cpt.digest import config_digest
from cpt.settings import global_batch_rows
from cpt.train.sinks import live_settings

# Operational settings and card facts travel in the command, not as params: Snakemake reruns
# a job whose params change, and neither a retry setting nor a card's content may do that.
PUBLISH_HUB = json.dumps(PUBLISH_HF or {})
CARD_FACTS = json.dumps(
    {
        "run": config["run"],
        "base_model": config["model"].get("hub", {}).get("repo_id", BASE_DIR),
        "mix": {name: source["weight"] for name, source in config["data"]["sources"].items()},
        "weighting": config["data"]["mix"]["weighting"],
        "seq_len": config["data"]["seq_len"],
        "tokens_per_step": global_batch_rows(config) * config["data"]["seq_len"],
        "config_digest": config_digest(config),
        "license": (PUBLISH_HF or {}).get("license"),
        "attribution": (PUBLISH_HF or {}).get("attribution"),
        "datasets": sorted(
            {s["hub"]["repo_id"] for s in config["data"]["sources"].values() if "hub" in s}
        ),
    }
)


rule publish_hf:
    """One step's HF export to its branch (step-<N>) and, when newest, to main, with a model card."""
    input:
        f"{EVAL_DIR}/models/step-{{step}}",
    output:
        f"{PUBLISH_DIR}/step-{{step}}.json",
    log:
        f"{RUN_DIR}/logs/publish/hf/step-{{step}}.log",
    wildcard_constraints:
        step=STEP_PATTERN,
    localrule: True
    conda:
        "../../envs/data.yaml"
    params:
        repo_id=(PUBLISH_HF or {}).get("repo_id"),  # a new repository is a reason to publish again
        eval_results=f"{EVAL_DIR}/results",
    # Two lint findings left on purpose (tests/test_lint.py): PUBLISH_HUB and CARD_FACTS, see above.
    shell:
        "python -m cpt.publish --export {input} --step $((10#{wildcards.step})) --hub {PUBLISH_HUB:q}"
        " --card-facts {CARD_FACTS:q} --eval-results {params.eval_results} --receipt {output} > {log} 2>&1"


rule publish:
    """Every selected step on the hub (publish.hf)."""
    input:
        publish_receipts(),


rule wandb_sync:
    """Upload what the training jobs wrote offline to W&B (`wandb login` once on the login node).
    No output, so it runs whenever asked: its params trigger nothing."""
    log:
        f"{RUN_DIR}/logs/wandb_sync.log",
    localrule: True
    conda:
        "../../envs/data.yaml"
    params:
        train_dir=TRAIN_DIR,
        live=json.dumps(live_settings(config)),
        final_marker=checkpoint_marker(SEGMENT_ENDS[-1]),
    shell:
        "python -m cpt.train.wandb_sync --train-dir {params.train_dir} --live {params.live:q}"
        " --final-marker {params.final_marker} 2>&1 | tee {log}"
