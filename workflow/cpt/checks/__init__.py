"""Config checks, all run when the controller loads the config, so `snakemake -n`,
`snakemake plan` and a real run stop before anything waits in a queue.

One module per check; findings.py collects them and formats each error as key,
value, rule and fix, all errors of a config together. Schema errors come first
(the config gets its defaults there); the other checks run on the same pass and
skip what a schema error leaves them unable to read.

    checks.load(config, "config.yaml + configs/demo.yaml", in_job=False)

Inside a Snakemake job (which re-parses the workflow) only the schema runs: the
controller checked the same config, and a job must not read parquet footers or
lm-eval's task index again.
"""

from __future__ import annotations

import logging

from cpt import settings
from cpt.checks import eval_tasks, lineage, model, schedule, schema, slurm, sources
from cpt.checks.findings import ConfigErrors, Finding, Findings

__all__ = ["ConfigErrors", "Finding", "Findings", "load", "run"]
log = logging.getLogger("cpt")


def _settings(config: dict, findings: Findings) -> None:
    """Weights and the mix size (cpt.settings), whose ConfigErrors name their key."""
    try:
        settings.load(config)
    except settings.ConfigError as err:
        findings.error_from(err)


CHECKS = (_settings, schedule.check, slurm.check, model.check, eval_tasks.check, sources.check, lineage.check)


def run(config: dict, findings: Findings | None = None) -> Findings:
    """Every check after the schema; a check that a schema error left without its input is skipped."""
    findings = findings or Findings()
    for check in CHECKS:
        try:
            check(config, findings)
        except Exception:  # noqa: BLE001 -- on a config the schema refused, a check may not cope
            if not findings.errors:
                raise
    return findings


def load(config: dict, where: str, *, in_job: bool = False) -> Findings:
    """Validate `config` in place (defaults filled in) and run every check; raise ConfigErrors
    listing all errors. Returns the findings, whose warnings and pending checks the caller shows."""
    findings = Findings()
    schema.validate(config, findings)
    if not in_job:
        run(config, findings)
    findings.raise_errors(where)
    return findings
