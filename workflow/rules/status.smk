# Status: where the run stands (segments, last metrics, ETA, evals, disk), read-only.


rule status:
    """Print the run's status and draw results/<run>/status.png; runs every time asked."""
    log:
        f"{RUN_DIR}/logs/status.log",
    localrule: True
    conda:
        "../../envs/data.yaml"
    params:
        config=json.dumps(config),
        json=f"{RUN_DIR}/status.json",
        plot=f"{RUN_DIR}/status.png",
    shell:
        "python -m cpt.status --config-json {params.config:q} --json {params.json} --plot {params.plot}"
        " 2>&1 | tee {log}"
