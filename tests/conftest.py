"""Fixtures shared by every test folder: the embedded demo, built once per session, and each test's
environment given back as it found it."""

import os
from pathlib import Path

import pytest

from cpt.demo.__main__ import build


@pytest.fixture(scope="session")
def demo_dir(tmp_path_factory) -> Path:
    """The embedded demo (sources + tiny base model), built once per test session; a test that
    runs the workflow on it copies it (shutil.copytree) next to its working dir."""
    out = tmp_path_factory.mktemp("demo")
    build(out)
    return out


@pytest.fixture(autouse=True)
def environment_restored():
    """A test that starts the trainer in-process (launch.init_distributed exports RANK, WORLD_SIZE, ...)
    must not hand those to every later test's subprocesses: a Slurm job's srun'd ranks would read a
    world of one from them instead of Slurm's."""
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)
