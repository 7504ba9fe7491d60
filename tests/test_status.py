"""The status view (cpt.status) on run dirs at three points of a run, read back from its JSON and text."""

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cpt.checks.config import load_config
from cpt.status.__main__ import collect, days_hm, render
from cpt.status.slurm import parse_squeue

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def demo(tmp_path, monkeypatch) -> dict:
    """The demo config with its results under tmp_path; no squeue on PATH."""
    monkeypatch.setenv("PATH", str(Path(sys.executable).parent))
    config = load_config([str(ROOT / "config.yaml"), str(ROOT / "configs" / "demo.yaml")])
    config["results_dir"] = str(tmp_path / "results")
    return config


def run_dir(config: dict) -> Path:
    return Path(config["results_dir"]) / config["run"]


def complete(config: dict, step: int) -> None:
    path = run_dir(config) / "train" / "checkpoints" / f"step-{step:08d}"
    path.mkdir(parents=True)
    (path / "model.distcp").write_bytes(b"x" * 1000)
    (path / "complete.json").write_text(json.dumps({"step": step}))


def log_steps(config: dict, steps: range, step_time: float, torn_tail: bool = False) -> None:
    path = run_dir(config) / "train" / "metrics.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps({"step": s, "loss": 5.0 - s / 100, "step_time_s": step_time, "mfu": None,
                         "tokens_per_s_per_device": 1234.0}) for s in steps]
    path.write_text("\n".join(lines) + ("\n{\"step\": 99, \"lo" if torn_tail else "\n"))


def test_before_the_first_segment_everything_is_pending(demo):
    s = collect(demo)
    ends = demo["train"]["steps"], demo["train"]["steps_per_segment"]
    assert s["segments"]["done"] == 0 and s["segments"]["pending"] == [ends[1], ends[0]]
    assert s["last"] is None
    planner = demo["slurm"]["planner"]
    expected = (ends[0] * planner["seconds_per_step"] / 3600
                + 2 * (planner["queue_wait_hours"] + planner["segment_overhead_minutes"] / 60))
    assert s["eta_hours"] == pytest.approx(expected)
    assert all(row["missing"] and not row["done"] for row in s["evals"].values())
    assert "no squeue on PATH" in s["slurm"]
    assert "no training step logged yet" in render(s)


def test_half_way_uses_measured_step_time_and_skips_a_torn_line(demo):
    first = demo["train"]["steps_per_segment"]
    complete(demo, 0)
    complete(demo, first)
    log_steps(demo, range(10, first + 10, 10), step_time=2.0, torn_tail=True)
    result = run_dir(demo) / "eval" / "results" / "step-00000000"
    result.mkdir(parents=True)
    name = demo["eval"]["tasks"][0]["name"]
    (result / f"{name}.json").write_text(json.dumps({"value": 0.5}))
    s = collect(demo)
    assert s["segments"]["done"] == 1 and s["segments"]["pending"] == [demo["train"]["steps"]]
    assert s["last"]["step"] == first  # the last whole record; the torn line after it is skipped
    assert s["step_seconds"] == 2.0
    planner = demo["slurm"]["planner"]
    left = demo["train"]["steps"] - s["last"]["step"]
    assert s["eta_hours"] == pytest.approx(left * 2.0 / 3600 + planner["queue_wait_hours"]
                                           + planner["segment_overhead_minutes"] / 60)
    assert s["evals"]["0"]["done"] == [name]
    assert any("unreadable metrics line" in p for p in s["problems"])
    assert s["disk_tb"]["checkpoints"]["used"] == pytest.approx(2 * (1000 + 13) / 1e12, rel=0.05)


def test_finished_run_has_no_eta(demo):
    for step in (0, *range(demo["train"]["steps_per_segment"], demo["train"]["steps"] + 1,
                           demo["train"]["steps_per_segment"])):
        complete(demo, step)
    log_steps(demo, range(10, demo["train"]["steps"] + 1, 10), step_time=1.5)
    s = collect(demo)
    assert s["segments"]["done"] == s["segments"]["total"] and s["eta"] == "finished"
    assert "ETA        finished" in render(s)


def test_squeue_lines_map_to_the_runs_chain_and_rules():
    jobs = parse_squeue("17|cpt-train-demo|(null)|64|5:03:11|RUNNING|None\n"
                        "18|8f2c-uuid|rule_eval_task_wildcards_00003500_MMLU|1|0:00|PENDING|Dependency\n"
                        "19|cpt-train-other-run|(null)|64|0:00|PENDING|Priority\n"
                        "20|someone-else|(null)|1|0:00|PENDING|Priority\n", run="demo")
    assert [(j.job_id, j.rule, j.wildcards, j.nodes) for j in jobs] == [
        ("17", "train_chain", "", 64), ("18", "eval_task", "00003500_MMLU", 1)]


def test_a_live_local_trainer_counts_as_running_and_a_stale_one_does_not(demo):
    train = run_dir(demo) / "train"
    train.mkdir(parents=True)
    record = {"run": demo["run"], "jobs": [], "local": {"host": "h1", "pid": 42, "heartbeat": time.time() - 5}}
    (train / "writer.json").write_text(json.dumps(record))
    s = collect(demo)
    assert s["segments"]["local"]["pid"] == 42 and "local trainer pid 42 on h1" in render(s)
    stale = demo["train"]["chain"]["stale_minutes"] * 60 + 1
    (train / "writer.json").write_text(json.dumps({**record, "local": {**record["local"],
                                                                         "heartbeat": time.time() - stale}}))
    assert collect(demo)["segments"]["local"] is None
    (train / "writer.json").write_text('{"run": "dem')   # torn: nothing to show, no crash
    assert collect(demo)["segments"]["local"] is None


def test_durations_read_as_days_and_hours():
    assert days_hm(278 * 24 + 2.125) == "278 d 02:08"
    assert days_hm(1.5) == "1:30 h:m"


def test_cli_writes_json_and_plot(demo, tmp_path):
    log_steps(demo, range(10, 60, 10), step_time=1.0)
    out, png = tmp_path / "status.json", tmp_path / "status.png"
    done = subprocess.run([sys.executable, "-m", "cpt.status", "--config-json", json.dumps(demo),
                           "--json", str(out), "--plot", str(png)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert json.loads(out.read_text())["last"]["step"] == 50
    assert png.read_bytes()[:4] == b"\x89PNG"
    assert "step 50 | loss 4.5000" in done.stdout
