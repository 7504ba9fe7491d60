# Training stage: import the base model as step 0 -> a chain of segments.
# The chain is driven by Slurm itself (cpt.chain): each training job queues its
# successor, so training goes on while no controller runs. `train_segment` is a light
# localrule per segment end: it adopts the chain's live job or submits one (Slurm
# profile), or trains directly (no profile), and waits for its step. Its output is a
# small record under segments/, never the checkpoint itself, so Snakemake can rerun or
# delete it without touching a checkpoint; what decides retraining is the checkpoint's
# lineage (cpt.rundir.lineage): a valid checkpoint is never trained again.
#
# Rerun policy: train_segment's only param is the training digest that governs its
# step (cpt.digest), so operational and layout edits (logging, retries, retention,
# resources, mesh) never rerun it; result-changing edits on a trained run are refused
# at parse time by cpt.checks (so at dry run), unless train.continue_from names the step.
from cpt.rundir.lineage import digest_at, next_history

# (cpt.checks.lineage refused a result-changing edit of a trained run before this point)
TRAIN_HISTORY = next_history(config, TRAIN_DIR)


rule train_import:
    """Step 0: the HF base model as a weights-only DCP checkpoint (one process)."""
    input:
        config=rules.download_model.output.config,
        tokenizer=rules.download_model.output.tokenizer,
    output:
        checkpoint_marker(0),
    log:
        f"{RUN_DIR}/logs/train/import.log",
    conda:
        "../../envs/train.yaml"
    threads: 1
    resources:
        **rule_resources("train_import"),
    params:
        base_dir=lambda w, input: str(Path(input.config).parent),
        checkpoints=lambda w, output: str(Path(output[0]).parent.parent),
    shell:
        "python -m cpt.convert.import_base --base-dir {params.base_dir} --checkpoints {params.checkpoints}"
        " > {log} 2>&1"


rule train_segment:
    """Make step {step} complete: adopt or submit the Slurm chain (a Slurm profile) or train
    here (none), under the run's one-writer record, and wait for it. Time-limit stops are
    continuations inside the chain; failures count against train.resubmits there."""
    input:
        previous=previous_segment,
        manifest=manifest_path(),
        config=rules.download_model.output.config,
        tokenizer=rules.download_model.output.tokenizer,
    output:
        f"{TRAIN_DIR}/segments/step-{{step}}.json",
    log:
        f"{RUN_DIR}/logs/train/step-{{step}}.log",
    wildcard_constraints:
        step="|".join(f"{end:08d}" for end in SEGMENT_ENDS),
    retries: 0
    localrule: True
    conda:
        "../../envs/train.yaml"
    resources:
        # a resource, not a param: it must not trigger reruns, and it is known only once the
        # executor is (after parsing): a Slurm profile drives the chain, none trains here
        chain=lambda wildcards: "local" if workflow.local_exec else "slurm",
    params:
        training_digest=lambda w: digest_at(TRAIN_HISTORY, int(w.step)),
        # the whole config is read from the controller's record, not passed as a param: Snakemake
        # reruns a job whose params change, and here only the training digest may
        config_file=CONTROLLER_CONFIG,
    shell:
        "python -m cpt.chain segment --config-file {params.config_file} --step $((10#{wildcards.step}))"
        " --out {output} --mode {resources.chain} >> {log} 2>&1"
