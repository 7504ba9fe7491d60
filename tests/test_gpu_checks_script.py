"""benchmarks/gpu_checks.sh on a machine without what it needs stops at once with the reason (exit 2),
before any benchmark or test: here, this venv's CPU torch, and a python without torch."""

import os
import subprocess
import sys

import pytest
from workflow_run import ROOT


@pytest.mark.parametrize("python, says", [
    (sys.executable, "no GPU visible to torch 2.13"),
    ("/nonexistent/python3", "no torch for /nonexistent/python3"),
])
def test_no_torch_or_no_gpu_is_named(tmp_path, python, says):
    done = subprocess.run(["bash", str(ROOT / "benchmarks/gpu_checks.sh")], capture_output=True, text=True,
                          env={**os.environ, "PYTHON": python, "OUT": str(tmp_path)}, timeout=60)
    assert done.returncode == 2 and says in done.stdout, done.stdout + done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["env.txt"]     # nothing else ran
