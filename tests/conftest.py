"""Fixtures shared by every test folder: the embedded demo, built once per session."""

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
