# Config validation and the paths every stage shares. Logic lives in workflow/cpt.
import sys
from pathlib import Path

# The package is installed (pip install -e .); running from a bare checkout works too.
sys.path.insert(0, str(Path(workflow.basedir) / "workflow"))
from cpt import checks, cluster, settings

# The schema (defaults filled in) and every login-node check, all errors reported at once,
# before anything is submitted. Jobs re-parse this file: there only the schema runs.
CONFIG_FILES = [*(f for f in workflow.configfiles if f not in workflow.overwrite_configfiles),
                *workflow.overwrite_configfiles]  # in the order they apply: the Snakefile's, then --configfile
FINDINGS = checks.load(config, " + ".join(map(str, CONFIG_FILES)) or "the config",
                       in_job=not workflow.is_main_process)
if FINDINGS.warnings or FINDINGS.pending:
    print(FINDINGS.report(), file=sys.stderr)
SETTINGS = settings.load(config)
RUN_DIR = SETTINGS.run_dir
PY = "python -m"


def manifest_path():
    return f"{RUN_DIR}/data/manifest.json"


BASE_DIR = config["model"]["base_dir"]


rule download_model:
    """The HF base model (login node; gated repos need HF_TOKEN). Skipped when the dir exists."""
    output:
        config=f"{BASE_DIR}/config.json",
        tokenizer=f"{BASE_DIR}/tokenizer.json",
    params:
        hub=config["model"].get("hub", {}),
    log:
        f"{RUN_DIR}/logs/download_model.log",
    localrule: True
    shell:
        "{PY} cpt.hub --repo-type model --repo-id {params.hub[repo_id]} --revision {params.hub[revision]}"
        " --allow-patterns {params.hub[allow_patterns]} --local-dir {BASE_DIR} > {log} 2>&1"


def rule_resources(rule, tasks=None):
    """A rule's Slurm request from config `slurm` (used by Slurm profiles, ignored locally):
    `resources: **rule_resources("tokenize")`. Checked against the queue policy here, at parse
    time, so a request the queue would refuse stops the run before anything is submitted."""
    return cluster.resources(config, rule, tasks)

