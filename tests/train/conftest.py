import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import train_helpers as h  # noqa: E402


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory):
    return h.make_model_dir(tmp_path_factory.mktemp("train") / "model")


@pytest.fixture(scope="session")
def manifest(tmp_path_factory, model_dir):
    return h.make_data(tmp_path_factory.mktemp("train") / "data", model_dir)
