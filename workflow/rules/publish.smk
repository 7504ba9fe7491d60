# Results where people look (login node: compute nodes have no internet).
#   publish_hf {step}   each selected step's HF export -> the hub (config publish.hf; off by default)
#   wandb_sync          the training jobs' offline W&B run -> wandb.ai (config metrics.wandb)
# Nothing in training or evaluation depends on these rules: a failed upload stops no job of theirs.
from cpt.live.sinks import live_settings

# Retry settings and card facts reach the job through the controller's config record
# (cpt.rundir.config), not params: Snakemake reruns a job whose params change, and neither
# a retry setting nor a card's content may republish a step.


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
        eval_results=str(RUN.eval_results),
        config_file=CONTROLLER_CONFIG,
    shell:
        "python -m cpt.publish --export {input} --step $((10#{wildcards.step})) --config-file {params.config_file}"
        " --eval-results {params.eval_results} --receipt {output} > {log} 2>&1"


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
        "python -m cpt.live.wandb_sync --train-dir {params.train_dir} --live {params.live:q}"
        " --final-marker {params.final_marker} 2>&1 | tee {log}"
