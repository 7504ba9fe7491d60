# Evaluation stage: export each evaluated checkpoint -> lm-eval per (step, task) -> results JSON.
# Step 0 is the base model dir as is; the datasets are fetched on the login node first.
import json
import re

from cpt.evaluate.steps import check_cadence, covering_segment_end, evaluated_steps, model_dir, result_path

EVAL = config["eval"]
EVAL_DIR = f"{RUN_DIR}/eval"
EVAL_TASKS = {task["name"]: task for task in EVAL["tasks"]}
EVAL_STEPS = evaluated_steps(EVAL["every"], config["train"]["steps"])
STEP_PATTERN = r"\d{8}"
TASK_PATTERN = "|".join(re.escape(name) for name in EVAL_TASKS)
INCLUDE_ARGS = " ".join(f"--include-path {path}" for path in EVAL["include_path"])
if len(EVAL_TASKS) != len(EVAL["tasks"]):
    raise ValueError("config: eval.tasks[].name must be unique (it names the results files)")
if "keep_every" in config["train"].get("checkpoint", {}):
    check_cadence(EVAL["every"], config["train"]["checkpoint"]["keep_every"])


def export_dir(path):
    """With eval.remove_exports an export is temp(): Snakemake deletes it once every job reading it
    (its step's eval tasks, and any other declared consumer) is done, and re-exports it for a rerun."""
    return temp(path) if EVAL["remove_exports"] else path


def eval_results():
    """Every (step, task) results JSON: the evaluate target, and the report's input."""
    return [str(result_path(RUN_DIR, step, name)) for step in EVAL_STEPS for name in EVAL_TASKS]


def eval_model(wildcards):
    """What an eval job reads: the base model's files at step 0, else the step's export."""
    step = int(wildcards.step)
    if step == 0:
        return [rules.download_model.output.config, rules.download_model.output.tokenizer]
    return str(model_dir(step, BASE_DIR, RUN_DIR))


def trained_checkpoint(wildcards):
    """The record of the training segment that writes this step's checkpoint (kept: keep_every)."""
    train = config["train"]
    end = covering_segment_end(int(wildcards.step), train["steps_per_segment"], train["steps"])
    return segment_record(end)


rule eval_prefetch:
    """A task's datasets into the HF cache (login node: compute nodes have no internet)."""
    output:
        f"{EVAL_DIR}/prefetch/{{task}}.json",
    wildcard_constraints:
        task=TASK_PATTERN,
    params:
        task=lambda w: EVAL_TASKS[w.task]["task"],
        include=INCLUDE_ARGS,
    log:
        f"{RUN_DIR}/logs/eval/prefetch/{{task}}.log",
    localrule: True
    conda:
        "../../envs/eval.yaml"
    shell:
        "{PY} cpt.evaluate.prefetch --task {params.task} {params.include} --out {output} > {log} 2>&1"


rule eval_export:
    """A kept training checkpoint as a self-contained HF dir (safetensors, config, tokenizer)."""
    input:
        trained_checkpoint,
    output:
        export_dir(directory(f"{EVAL_DIR}/models/step-{{step}}")),
    wildcard_constraints:
        step=STEP_PATTERN,
    params:
        checkpoint=lambda w: f"{RUN_DIR}/train/checkpoints/step-{w.step}",
    log:
        f"{RUN_DIR}/logs/eval/export/step-{{step}}.log",
    threads: 1
    conda:
        "../../envs/eval.yaml"
    shell:
        "{PY} cpt.train.export --checkpoint {params.checkpoint} --base-dir {BASE_DIR}"
        " --out {output} > {log} 2>&1"


if EVAL["node_jobs"]:

    rule eval_step:
        """A step's tasks in one node job, each on its own GCD at the same time (Frontier charges
        whole nodes); per-task logs as eval_task's. A failed task writes a 'failed' record, exit 0."""
        input:
            model=eval_model,
            prefetch=[f"{EVAL_DIR}/prefetch/{name}.json" for name in EVAL_TASKS],
        output:
            [f"{EVAL_DIR}/results/step-{{step}}/{name}.json" for name in EVAL_TASKS],
        wildcard_constraints:
            step=STEP_PATTERN,
        params:
            model_dir=lambda w: model_dir(int(w.step), BASE_DIR, RUN_DIR),
            gcds=cluster.request(config, "eval_step").get("gpus", 1),
            tasks=lambda w: json.dumps([{**spec, "out": str(result_path(RUN_DIR, int(w.step), name)),
                                         "log": f"{RUN_DIR}/logs/eval/step-{w.step}/{name}.log"}
                                        for name, spec in EVAL_TASKS.items()]),
            limit="" if EVAL["limit"] is None else f"--limit {EVAL['limit']}",
            include=INCLUDE_ARGS,
        log:
            f"{RUN_DIR}/logs/eval/step-{{step}}/node.log",
        threads: 1
        resources:
            **rule_resources("eval_step"),
        conda:
            "../../envs/eval.yaml"
        shell:
            "{PY} cpt.evaluate.node --gcds {params.gcds} --tasks {params.tasks:q} --"
            " --model-dir {params.model_dir} --step $((10#{wildcards.step})) --batch-size {EVAL[batch_size]}"
            " --dtype {EVAL[dtype]} --device {EVAL[device]} {params.limit} {params.include} > {log} 2>&1"

else:

    rule eval_task:
        """lm-eval on one step's model and one task; a failed task writes a 'failed' record, exit 0."""
        input:
            model=eval_model,
            prefetch=f"{EVAL_DIR}/prefetch/{{task}}.json",
        output:
            f"{EVAL_DIR}/results/step-{{step}}/{{task}}.json",
        wildcard_constraints:
            step=STEP_PATTERN,
            task=TASK_PATTERN,
        params:
            model_dir=lambda w: model_dir(int(w.step), BASE_DIR, RUN_DIR),
            spec=lambda w: EVAL_TASKS[w.task],
            limit="" if EVAL["limit"] is None else f"--limit {EVAL['limit']}",
            include=INCLUDE_ARGS,
        log:
            f"{RUN_DIR}/logs/eval/step-{{step}}/{{task}}.log",
        threads: 1
        resources:
            **rule_resources("eval_task"),
        conda:
            "../../envs/eval.yaml"
        shell:
            "{PY} cpt.evaluate.run --model-dir {params.model_dir} --step $((10#{wildcards.step}))"
            " --name {wildcards.task} --task {params.spec[task]} --num-fewshot {params.spec[num_fewshot]}"
            " --metric {params.spec[metric]} --batch-size {EVAL[batch_size]} --dtype {EVAL[dtype]}"
            " --device {EVAL[device]} {params.limit} {params.include} --out {output} > {log} 2>&1"
