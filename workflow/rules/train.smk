# Training stage: import the base model as step 0 -> a chain of segments, one job each.
# Segment k resumes from the newest complete checkpoint and ends at step
# min(k * steps_per_segment, steps); its output is that checkpoint's completion
# marker, so the whole chain (and every eval that needs it) is in the DAG up front.
import json
import math

from cpt.train.config import TrainConfig
from cpt.train.sinks import live_settings

TRAIN = config["train"]
TRAIN_DIR = f"{RUN_DIR}/train"
TRAIN_WORLD = math.prod(TRAIN["parallel"].values())
SEGMENT_ENDS = TrainConfig.from_dict(TRAIN).segment_ends()
# Live metrics (W&B settings, where eval results appear): in the command, not a param, so
# turning W&B on or off never makes a finished segment out of date (cpt.train.sinks).
LIVE = json.dumps(live_settings(config))


def checkpoint_marker(step):
    """A checkpoint's completion marker: written last, so it stands for the whole dir."""
    return f"{TRAIN_DIR}/checkpoints/step-{step:08d}/complete.json"


def segment_checkpoints():
    """Every segment's end: asking for all of them (not just the last) makes a deleted
    segment checkpoint rerun that segment and, through the chain, all later ones."""
    return [checkpoint_marker(end) for end in SEGMENT_ENDS]


def previous_segment(wildcards):
    """The marker of the segment before this one (step 0 for the first)."""
    end = int(wildcards.step)
    return checkpoint_marker(max([0] + [e for e in SEGMENT_ENDS if e < end]))


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
    """One job-sized segment of training on TRAIN_WORLD ranks. A Slurm time-limit warning
    (SIGUSR1/SIGTERM) makes it save and exit 0 before its end step; the missing output
    then fails the job and Snakemake resubmits it (retries), resuming where it stopped."""
    input:
        previous=previous_segment,
        manifest=manifest_path(),
        config=rules.download_model.output.config,
        tokenizer=rules.download_model.output.tokenizer,
    output:
        f"{TRAIN_DIR}/checkpoints/step-{{step}}/complete.json",
    wildcard_constraints:
        step="|".join(f"{end:08d}" for end in SEGMENT_ENDS),
    params:
        train=json.dumps(TRAIN),
        seq_len=config["data"]["seq_len"],
        launcher=launcher,  # torchrun locally; srun with one task per GCD under a Slurm profile
    log:
        f"{RUN_DIR}/logs/train/step-{{step}}.log",
    retries: TRAIN["resubmits"]
    resources:
        **rule_resources("train_segment", TRAIN_WORLD),
    conda:
        "../../envs/train.yaml"
    shell:
        "{params.launcher} -m cpt.train --train-config {params.train:q} --manifest {input.manifest}"
        " --base-dir {BASE_DIR} --train-dir {TRAIN_DIR} --seq-len {params.seq_len}"
        " --until-step $((10#{wildcards.step})) --live {LIVE:q} >> {log} 2>&1"
