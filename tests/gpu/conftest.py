"""GPU tests (`pytest -m gpu`): skipped, with the reason, where no GPU is visible, so the CPU
suite stays green. On a GPU machine: `bash benchmarks/gpu_checks.sh` runs them all."""

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parents[1] / "train"))  # train_helpers: real ranks, configs

NO_GPU = ("no GPU visible (torch.cuda.is_available() is False; ROCm builds answer through it too): "
          "run `bash benchmarks/gpu_checks.sh` on a GPU machine")


def pytest_collection_modifyitems(config, items):
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            if not torch.cuda.is_available():
                item.add_marker(pytest.mark.skip(reason=NO_GPU))
            elif not torch.cuda.is_bf16_supported():
                item.add_marker(pytest.mark.skip(reason=f"{torch.cuda.get_device_name()} has no bf16; "
                                                        "the production recipe trains in bf16"))


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory):
    import train_helpers as h
    # head dim 32 and bf16: shapes every fused SDPA kernel (flash, memory-efficient) takes
    return h.make_model_dir(tmp_path_factory.mktemp("gpu") / "model", dim=256, layers=4, heads=8, kv_heads=4)


@pytest.fixture(scope="session")
def manifest(tmp_path_factory, model_dir):
    import train_helpers as h
    return h.make_data(tmp_path_factory.mktemp("gpu") / "data", model_dir, rows=160)
