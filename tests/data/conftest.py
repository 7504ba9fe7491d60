"""Fixtures of the data-stage tests: the demo's base model (the demo: tests/conftest.py)."""

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def model_dir(demo_dir) -> Path:
    return demo_dir / "model"
