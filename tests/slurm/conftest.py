"""Fixtures of the Slurm tests: fake Slurm client commands, and working directories of
the full-scale config whose upstream outputs exist, so one rule's jobs get submitted."""

import os
import sys
import warnings
from pathlib import Path

import cluster
import pytest
from slurm_helpers import FAKES
from workflow_run import ROOT, link_workflow


@pytest.fixture
def fake_slurm(tmp_path, monkeypatch) -> Path:
    """Fake Slurm clients first on PATH; returns the dir where sbatch calls are recorded."""
    bin_dir, log = tmp_path / "fake-bin", tmp_path / "sbatch-calls"
    bin_dir.mkdir()
    log.mkdir()
    for name, body in FAKES.items():
        (bin_dir / name).write_text("#!/bin/bash\n" + body)
        (bin_dir / name).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{Path(sys.executable).parent}:{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_SLURM_LOG", str(log))
    return log


@pytest.fixture
def full_workdir(tmp_path) -> Path:
    """The full-scale config's working dir with the workflow linked in and nothing run."""
    return link_workflow(tmp_path / "work")


@pytest.fixture(scope="session")
def full_config() -> dict:
    """config.yaml validated with the schema's defaults, as the workflow sees it."""
    from cpt.checks.config import load_config

    return load_config([str(ROOT / "config.yaml")])


@pytest.fixture(scope="session")
def slurm_cluster(tmp_path_factory):
    """slurmctld + two slurmd fake nodes, one for the whole session (every local-Slurm test
    shares it); skipped, with the reason, where impossible."""
    reason = cluster.unavailable_reason()
    if reason:
        warnings.warn(f"local Slurm tests skipped: {reason}", stacklevel=2)
        pytest.skip(f"local Slurm cluster unavailable: {reason}")
    state = tmp_path_factory.mktemp("slurm-state")
    cluster.up(state)
    yield state
    cluster.down(state)
