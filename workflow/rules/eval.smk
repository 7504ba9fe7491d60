# Evaluation stage: export each evaluated checkpoint -> lm-eval per (step, task) -> results JSON.
# Step 0 is the base model dir as is; the datasets are fetched on the login node first.
# Every eval and export option is a param of the jobs it changes, so editing one reruns those
# jobs and nothing else (tests/eval/test_pipeline.py).


rule eval_prefetch:
    """A task's datasets into the HF cache (login node: compute nodes have no internet)."""
    output:
        f"{EVAL_DIR}/prefetch/{{task}}.json",
    log:
        f"{RUN_DIR}/logs/eval/prefetch/{{task}}.log",
    wildcard_constraints:
        task=TASK_PATTERN,
    localrule: True
    conda:
        "../../envs/eval.yaml"
    params:
        task=lambda w: EVAL_TASKS[w.task]["task"],
        include=INCLUDE_ARGS,
    shell:
        "python -m cpt.evaluate.prefetch --task {params.task} {params.include} --out {output}" " > {log} 2>&1"


rule eval_export:
    """A kept training checkpoint as a self-contained HF dir (safetensors, config, tokenizer)."""
    input:
        trained=trained_checkpoint,
        config=rules.download_model.output.config,
        tokenizer=rules.download_model.output.tokenizer,
    output:
        export_dir(directory(f"{EVAL_DIR}/models/step-{{step}}")),
    log:
        f"{RUN_DIR}/logs/eval/export/step-{{step}}.log",
    wildcard_constraints:
        step=STEP_PATTERN,
    conda:
        "../../envs/eval.yaml"
    threads: 1
    params:
        checkpoint=lambda w: str(RUN.checkpoint(int(w.step))),
        base_dir=lambda w, input: str(Path(input.config).parent),
    shell:
        "python -m cpt.convert.export --checkpoint {params.checkpoint} --base-dir {params.base_dir}"
        " --out {output} > {log} 2>&1"


if EVAL["node_jobs"]:

    rule eval_step:
        """A step's tasks in one node job, each on its own GCD at the same time (Frontier charges
        whole nodes); per-task logs as eval_task's. A failed task writes a 'failed' record, exit 0.
        """
        input:
            model=eval_model,
            prefetch=[f"{EVAL_DIR}/prefetch/{name}.json" for name in EVAL_TASKS],
        output:
            [f"{EVAL_DIR}/results/step-{{step}}/{name}.json" for name in EVAL_TASKS],
        log:
            f"{RUN_DIR}/logs/eval/step-{{step}}/node.log",
        wildcard_constraints:
            step=STEP_PATTERN,
        conda:
            "../../envs/eval.yaml"
        threads: 1
        resources:
            **rule_resources("eval_step"),
        params:
            model_dir=lambda w: model_dir(int(w.step), BASE_DIR, RUN),
            gcds=cluster.request(config, "eval_step").get("gpus", 1),
            tasks=eval_node_tasks,
            limit=LIMIT_ARGS,
            include=INCLUDE_ARGS,
            batch_size=EVAL["batch_size"],
            dtype=EVAL["dtype"],
            device=EVAL["device"],
        shell:
            "python -m cpt.evaluate.node --gcds {params.gcds} --tasks {params.tasks:q} --"
            " --model-dir {params.model_dir} --step $((10#{wildcards.step})) --batch-size {params.batch_size}"
            " --dtype {params.dtype} --device {params.device} {params.limit} {params.include} > {log} 2>&1"

else:

    rule eval_task:
        """lm-eval on one step's model and one task; a failed task writes a 'failed' record, exit 0."""
        input:
            model=eval_model,
            prefetch=f"{EVAL_DIR}/prefetch/{{task}}.json",
        output:
            f"{EVAL_DIR}/results/step-{{step}}/{{task}}.json",
        log:
            f"{RUN_DIR}/logs/eval/step-{{step}}/{{task}}.log",
        wildcard_constraints:
            step=STEP_PATTERN,
            task=TASK_PATTERN,
        conda:
            "../../envs/eval.yaml"
        threads: 1
        resources:
            **rule_resources("eval_task"),
        params:
            model_dir=lambda w: model_dir(int(w.step), BASE_DIR, RUN),
            # scalars, not the task's dict: reordering its keys in a YAML file must rerun nothing
            task=lambda w: EVAL_TASKS[w.task]["task"],
            num_fewshot=lambda w: EVAL_TASKS[w.task]["num_fewshot"],
            metric=lambda w: EVAL_TASKS[w.task]["metric"],
            limit=LIMIT_ARGS,
            include=INCLUDE_ARGS,
            batch_size=EVAL["batch_size"],
            dtype=EVAL["dtype"],
            device=EVAL["device"],
        shell:
            "python -m cpt.evaluate.run --model-dir {params.model_dir} --step $((10#{wildcards.step}))"
            " --name {wildcards.task} --task {params.task} --num-fewshot {params.num_fewshot}"
            " --metric {params.metric} --batch-size {params.batch_size} --dtype {params.dtype}"
            " --device {params.device} {params.limit} {params.include} --out {output} > {log} 2>&1"
