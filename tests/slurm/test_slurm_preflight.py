"""The compute preflight (cpt.chain.preflight) on the local cluster, through the controller's train_segment
job: a chain of 2 one-rank nodes with slurm.preflight.nodes 1 needs one. It is submitted with real sbatch and
runs the all-reduce, 3 training steps in a scratch dir (deleted) and a demo eval task; its memory check fails
(HBM set below a CPU rank's peak), so the segment stops with the reason and no chain job is submitted.
(A passing preflight then letting the chain train ran here too, 90 s; left out to keep the suite short: the
gate's pass path is tested without Slurm in tests/frontier/test_compute_preflight.py.)"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from workflow_run import link_workflow

pytestmark = pytest.mark.slow
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "train"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "eval"))
import train_helpers as h  # noqa: E402
from eval_helpers import build_tiny_model  # noqa: E402

ARGS = ["train", "--configfile", "config.yaml", "overlay.yaml", "--allowed-rules", "train_import", "train_segment",
        "train", "--profile", "profiles/slurm-local"]
STEPS = 6
ENV = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}", "MASTER_ADDR": "127.0.0.1"}


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("preflight-model") / "model")


def workdir(base: Path, model_dir: Path, run: str, gcd_memory_gb: float) -> Path:
    work = link_workflow(base / run)
    h.make_data(work / "results" / run / "data", model_dir, rows=4 * STEPS + 8)
    (work / "results" / run / "eval" / "prefetch").mkdir(parents=True)
    (work / "results" / run / "eval" / "prefetch" / "Arith.json").write_text("{}")   # a shipped task: nothing to fetch
    overlay = {"run": run, "model": {"base_dir": str(model_dir)}, "data": {"seq_len": h.SEQ_LEN},
               "train": {"steps": STEPS, "steps_per_segment": STEPS, "local_batch": 2,
                         "parallel": {"dp_replicate": 1, "dp_shard": 2, "tp": 1}, "compile": False,
                         "activation_checkpointing": "none", "param_dtype": "float32",
                         "schedule": {"warmup_steps": 2, "decay_end_step": STEPS},
                         "checkpoint": {"interval": STEPS, "keep_last": 2, "keep_every": 1000}, "log_interval": 1,
                         "chain": {"poll_seconds": 1, "heartbeat_seconds": 2}},
               "eval": {"every": 1000, "tasks": [{"name": "Arith", "task": "cpt_demo_arith"}]},
               "slurm": {"node": {"cores": 56, "gcds": 8, "gcd_memory_gb": gcd_memory_gb},
                         "launch": {"tasks_per_node": 1, "gpus_per_task": 0, "cpus_per_task": 1, "gpu_bind": None,
                                    "extra": [], "stage_env": None},
                         "resources": {"train_segment": {"partition": "extended", "hours": 1, "signal_seconds": 60,
                                                         "mem_gb": 0.6, "sbatch": [], "constraint": ""}},
                         "preflight": {"nodes": 1, "steps": 3, "eval_limit": 2, "partition": "extended"}}}
    (work / "overlay.yaml").write_text(yaml.safe_dump(overlay))
    return work


def run(work: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "snakemake", *ARGS], cwd=work, env=ENV, capture_output=True,
                          text=True, timeout=900)


def test_a_failing_memory_check_stops_the_segment_with_the_reason(slurm_cluster, tmp_path, model_dir):
    work = workdir(tmp_path, model_dir, "refused", gcd_memory_gb=0.01)   # less than one CPU rank's peak
    result = run(work)
    log = (work / "results" / "refused" / "logs" / "train" / f"step-{STEPS:08d}.log").read_text()
    assert result.returncode != 0
    assert "the compute preflight (job" in log and "peak memory" in log and "slurm.preflight.skip" in log, log[-3000:]
    train = work / "results" / "refused" / "train"
    record = json.loads((train / "preflight.json").read_text())
    assert record["comm"]["correct"] and record["train"]["steps"] == 3 and record["eval"]["status"] == "ok", record
    assert len(record["reasons"]) == 1 and record["train"]["memory_peak_gb"] > 0.009
    assert not (train / "preflight" / "train").exists()                    # no checkpoint kept
    assert len(list((train / "jobs").glob("*.log"))) == 1                   # the preflight job only: no chain job
    assert not (train / "checkpoints" / f"step-{STEPS:08d}").exists() and not (train / "metrics.jsonl").exists()
