# Status: where the run stands (segments, last metrics, ETA, evals, disk), read-only.
import json


rule status:
    """Print the run's status and draw results/<run>/status.png; runs every time asked."""
    params:
        config=json.dumps(config),
    localrule: True
    shell:
        "{PY} cpt.status --config-json {params.config:q} --json {RUN_DIR}/status.json --plot {RUN_DIR}/status.png"
