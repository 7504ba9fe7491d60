# The planner: `snakemake plan` prints what the configured run costs (tokens, sources'
# epochs, segments, node-hours, calendar time, memory per GCD) and checks the training
# request against the queue policy. It reads the run's manifest and metrics when present.


rule plan:
    """Print the run plan and write it as JSON (results/<run>/plan.json); runs every time asked."""
    log:
        f"{RUN_DIR}/logs/plan.log",
    localrule: True
    conda:
        "../../envs/data.yaml"
    params:
        config=json.dumps(config),
        json=f"{RUN_DIR}/plan.json",
    shell:
        "python -m cpt.plan --config-json {params.config:q} --json {params.json} 2>&1 | tee {log}"
