# Training stage: import the base model as step 0 -> a chain of segments.
# The chain is driven by Slurm itself (cpt.train.chain): each training job queues its
# successor, so training goes on while no controller runs. `train_segment` is a light
# localrule per segment end: it adopts the chain's live job or submits one (Slurm
# profile), or trains directly (no profile), and waits for its step. Its output is a
# small record under segments/, never the checkpoint itself, so Snakemake can rerun or
# delete it without touching a checkpoint; what decides retraining is the checkpoint's
# lineage (cpt.train.lineage): a valid checkpoint is never trained again.
#
# Rerun policy: train_segment's only param is the training digest that governs its
# step (cpt.digest), so operational and layout edits (logging, retries, retention,
# resources, mesh) never rerun it; result-changing edits on a trained run are refused
# here, at parse time (so at dry run), unless train.continue_from names the step.
import json
import math

from cpt.train.config import TrainConfig
from cpt.train.lineage import check_config, digest_at, next_history

TRAIN = config["train"]
TRAIN_DIR = f"{RUN_DIR}/train"
TRAIN_WORLD = math.prod(TRAIN["parallel"].values())
SEGMENT_ENDS = TrainConfig.from_dict(TRAIN).segment_ends()
check_config(config, TRAIN_DIR)
TRAIN_HISTORY = next_history(config, TRAIN_DIR)
CHAIN_CONFIG = json.dumps(config)  # a global, not a param: only the digest may trigger reruns


def checkpoint_marker(step):
    """A checkpoint's completion marker: written last, so it stands for the whole dir."""
    return f"{TRAIN_DIR}/checkpoints/step-{step:08d}/complete.json"


def segment_record(step):
    """What train_segment writes once step `step` is complete and valid (evals depend on it)."""
    return f"{TRAIN_DIR}/segments/step-{step:08d}.json"


def segment_checkpoints():
    """Every segment's record: asking for all of them (not just the last) makes a deleted
    record rerun that segment, which returns at once while its checkpoint is valid."""
    return [segment_record(end) for end in SEGMENT_ENDS]


def previous_segment(wildcards):
    """The record of the segment before this one (the step-0 import's marker for the first)."""
    end = int(wildcards.step)
    before = [e for e in SEGMENT_ENDS if e < end]
    return segment_record(before[-1]) if before else checkpoint_marker(0)


rule train_import:
    """Step 0: the HF base model as a weights-only DCP checkpoint (one process)."""
    input:
        config=rules.download_model.output.config,
        tokenizer=rules.download_model.output.tokenizer,
    output:
        checkpoint_marker(0),
    log:
        f"{RUN_DIR}/logs/train/import.log",
    threads: 1
    resources:
        **rule_resources("train_import"),
    conda:
        "../../envs/train.yaml"
    shell:
        "{PY} cpt.train.import_base --base-dir {BASE_DIR} --checkpoints {TRAIN_DIR}/checkpoints > {log} 2>&1"


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
    wildcard_constraints:
        step="|".join(f"{end:08d}" for end in SEGMENT_ENDS),
    params:
        training_digest=lambda w: digest_at(TRAIN_HISTORY, int(w.step)),
    log:
        f"{RUN_DIR}/logs/train/step-{{step}}.log",
    resources:
        # a resource, not a param: it must not trigger reruns, and it is known only once the
        # executor is (after parsing): a Slurm profile drives the chain, none trains here
        chain=lambda wildcards: "local" if workflow.local_exec else "slurm",
    localrule: True
    retries: 0
    conda:
        "../../envs/train.yaml"
    shell:
        "{PY} cpt.train.chain segment --config {CHAIN_CONFIG:q} --step $((10#{wildcards.step}))"
        " --out {output} --mode {resources.chain} >> {log} 2>&1"
