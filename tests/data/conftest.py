"""Fixtures of the data-stage tests: the demo build, once per session."""

from pathlib import Path

import pytest

from cpt.demo.__main__ import build


@pytest.fixture(scope="session")
def demo_dir(tmp_path_factory) -> Path:
    """The embedded demo (sources + tiny base model), built once per test session."""
    out = tmp_path_factory.mktemp("demo")
    build(out)
    return out


@pytest.fixture(scope="session")
def model_dir(demo_dir) -> Path:
    return demo_dir / "model"
