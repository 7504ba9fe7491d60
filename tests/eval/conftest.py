"""Shared fixtures: a tiny HF Llama dir (the demo's base model shape) and lm-eval's task index."""

from pathlib import Path

import pytest
from eval_helpers import TEST_TASKS, build_tiny_model


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny-llama"))


@pytest.fixture(scope="session")
def offline_task_index():
    """lm-eval's index with the hub unreachable, as on a compute node (takes a few seconds)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HUB_OFFLINE", "1")
        mp.setenv("HF_DATASETS_OFFLINE", "1")
        from cpt.evaluate.run import task_manager

        yield task_manager([str(TEST_TASKS)]).task_index
