"""A result-changing edit on a run that has trained steps is refused unless train.continue_from
names the step to continue from (cpt.rundir.lineage.check_config), at dry run like every check."""

from __future__ import annotations

from cpt.checks.findings import Findings
from cpt.rundir import lineage
from cpt.rundir.paths import RunDir
from cpt.settings import ConfigError


def check(config: dict, findings: Findings) -> None:
    try:
        lineage.check_config(config, RunDir.of(config).train)
    except ConfigError as err:
        findings.error_from(err, key="train")
