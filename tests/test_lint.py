"""The workflow passes Snakemake's own checks, as the workflow catalog runs them: `snakemake --lint`
and `snakefmt --check` (seconds; no job runs). No finding is left: values that must not rerun a job
reach it through the controller's config record (cpt.rundir.config), not shell globals."""

import re
import shutil
import subprocess
import sys

from workflow_run import ROOT, link_workflow, snakemake

def test_snakemake_lint_finds_nothing(tmp_path):
    work = link_workflow(tmp_path / "work")
    result = snakemake(work, "--lint", "--configfile", "configs/demo.yaml", check=False)
    # the CLI prints text only (snakemake 9.27 drops `--lint json`): "Lints for rule X (...):" then "* title:"
    found, item = set(), None
    for line in result.stderr.splitlines():
        if header := re.match(r"Lints for (?:rule|snakefile) (\S+)", line):
            item = header[1]
        elif finding := re.match(r"    \* (.+):$", line):
            found.add((item, finding[1]))
    assert found == set(), result.stderr[-5000:]
    assert not (work / "results").exists()


def test_snakefmt_leaves_every_snakefile_as_is():
    snakefmt = shutil.which("snakefmt", path=str(ROOT / ".venv/bin")) or shutil.which("snakefmt")
    assert snakefmt, "snakefmt is not installed: pip install -e '.[test]'"
    result = subprocess.run([snakefmt, "--check", "Snakefile", "workflow/rules"], cwd=ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr + f"\nfix: {sys.executable} -m snakefmt Snakefile workflow/rules"


def test_ruff_finds_nothing():
    """pyproject's [tool.ruff] (E, F, B): so a `noqa` marker in the code means something."""
    ruff = shutil.which("ruff", path=str(ROOT / ".venv/bin")) or shutil.which("ruff")
    assert ruff, "ruff is not installed: pip install -e '.[test]'"
    result = subprocess.run([ruff, "check", "workflow", "tests", "benchmarks"], cwd=ROOT, capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stdout[-5000:] + f"\nfix: {ruff} check --fix workflow tests benchmarks"
