# The planner: `snakemake plan` prints what the configured run costs (tokens, sources'
# epochs, segments, node-hours, calendar time, memory per GCD) and checks the training
# request against the queue policy. It reads the run's manifest and metrics when present.
import json


rule plan:
    """Print the run plan and write it as JSON (results/<run>/plan.json); runs every time asked."""
    params:
        config=json.dumps(config),
    log:
        f"{RUN_DIR}/logs/plan.log",
    localrule: True
    shell:
        "{PY} cpt.plan --config-json {params.config:q} --json {RUN_DIR}/plan.json 2>&1 | tee {log}"
