# The sweep: `snakemake sweep` measures the fastest modelled layouts (python -m cpt.plan --layouts)
# and the configured one on the run's nodes, with its mix and base model, before the run; the plan
# then shows the fastest measured layout and the keys to set. Nothing here edits the config.


rule sweep_layout:
    """One layout's speed: warm-up, then timed steps of the trainer (cpt.train.bench); no checkpoint."""
    input:
        manifest=manifest_path(),
        step0=checkpoint_marker(0),
        config=rules.download_model.output.config,
        tokenizer=rules.download_model.output.tokenizer,
    output:
        f"{SWEEP_DIR}/layouts/{{layout}}.json",
    log:
        f"{RUN_DIR}/logs/sweep/{{layout}}.log",
    wildcard_constraints:
        layout=r"r\d+-s\d+-t\d+-m\d+-[a-z]+",
    conda:
        "../../envs/train.yaml"
    resources:
        **rule_resources("sweep_layout", tasks=SWEEP_RANKS),
    params:
        train=sweep_train_section,
        launch=lambda w, resources: cluster.launcher(config, resources),
        step0=lambda w, input: str(Path(input.step0).parent),
        base_dir=lambda w, input: str(Path(input.config).parent),
        seq_len=config["data"]["seq_len"],
        warmup=config["sweep"]["warmup_steps"],
        steps=config["sweep"]["steps"],
    shell:
        "{params.launch} -m cpt.train.bench --layout {wildcards.layout} --train-config {params.train:q}"
        " --manifest {input.manifest} --base-dir {params.base_dir} --step0 {params.step0}"
        " --seq-len {params.seq_len} --warmup {params.warmup} --steps {params.steps} --out {output} > {log} 2>&1"


rule sweep_table:
    """The measured layouts beside the modelled: table.csv, table.md, plot.png."""
    input:
        sweep_records,
    output:
        table=f"{SWEEP_DIR}/table.csv",
        markdown=f"{SWEEP_DIR}/table.md",
        plot=f"{SWEEP_DIR}/plot.png",
    log:
        f"{RUN_DIR}/logs/sweep/table.log",
    localrule: True
    conda:
        "../../envs/eval.yaml"
    params:
        config=json.dumps(config),
        out_dir=lambda w, output: str(Path(output.table).parent),
    shell:
        "python -m cpt.plan.sweep_table {input} --config-json {params.config:q} --out-dir {params.out_dir}"
        " > {log} 2>&1"
