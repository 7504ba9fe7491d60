"""The Slurm-driven training chain (cpt.chain) on the local cluster: a controller killed
and restarted, a running job scancel'ed, and time-limit stops in a run that needs more jobs
than its retry budget. Each run trains the same tiny model (2 gloo ranks on the two fake
nodes) and must give the losses of an uninterrupted local run bit for bit, with never two
chain jobs running at once."""

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml
from workflow_run import link_workflow, snakemake

pytestmark = pytest.mark.slow
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "train"))
import train_helpers as h  # noqa: E402

ARGS = ["train", "--configfile", "config.yaml", "overlay.yaml",
        "--allowed-rules", "train_import", "train_segment", "train"]
SLURM = ["--profile", "profiles/slurm-local"]
STEPS, PER_SEGMENT = 200, 100
# The fake nodes' names do not resolve: rank 0 listens on localhost (jobs inherit this environment).
ENV = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}", "MASTER_ADDR": "127.0.0.1"}


def overlay(run: str, model_dir: Path, hours: float = 1, signal_seconds: int = 60, resubmits: int = 3) -> dict:
    return {"run": run, "model": {"base_dir": str(model_dir)}, "data": {"seq_len": h.SEQ_LEN},
            "train": {"steps": STEPS, "steps_per_segment": PER_SEGMENT, "local_batch": 2,
                      "parallel": {"dp_replicate": 1, "dp_shard": 2, "tp": 1}, "compile": False,
                      "activation_checkpointing": "none", "param_dtype": "float32",
                      "schedule": {"warmup_steps": 10, "decay_end_step": STEPS},
                      "checkpoint": {"interval": 20, "keep_last": 2, "keep_every": 1000}, "log_interval": 10,
                      "resubmits": resubmits, "chain": {"poll_seconds": 1, "heartbeat_seconds": 2}},
            "eval": {"every": 1000},
            "slurm": {"launch": {"tasks_per_node": 1, "gpus_per_task": 0, "cpus_per_task": 1, "gpu_bind": None,
                                 "extra": [], "stage_env": None},
                      "resources": {"train_segment": {"partition": "extended", "hours": hours,
                                                      "signal_seconds": signal_seconds, "mem_gb": 0.6,
                                                      "sbatch": [], "constraint": ""}}}}   # no Slingshot, no NVMe here


def workdir(base: Path, model_dir: Path, run: str, **slurm) -> Path:
    work = link_workflow(base / run)
    h.make_data(work / "results" / run / "data", model_dir, rows=2 * STEPS * 2 + 8)
    (work / "overlay.yaml").write_text(yaml.safe_dump(overlay(run, model_dir, **slurm)))
    return work


def losses(work: Path, run: str) -> dict[int, float]:
    return h.losses(work / "results" / run / "train")


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    return h.make_model_dir(tmp_path_factory.mktemp("chain-model") / "model")


@pytest.fixture(scope="module")
def reference(tmp_path_factory, model_dir) -> dict[int, float]:
    """Losses of the same run trained uninterrupted: one trainer launch (2 gloo ranks) to the last step."""
    from cpt.checks.config import load_config

    work = workdir(tmp_path_factory.mktemp("chain-ref"), model_dir, "ref")
    train = work / "results" / "ref" / "train"
    h.import_step0(model_dir, train)
    config = load_config([str(work / "config.yaml"), str(work / "overlay.yaml")])
    argv = ["-m", "cpt.train", "--train-config", json.dumps(config["train"]), "--manifest",
            str(train.parent / "data" / "manifest.json"), "--base-dir", str(model_dir), "--train-dir", str(train),
            "--seq-len", str(h.SEQ_LEN)]
    codes = h.wait(h.start(2, argv, train / "logs"), train / "logs", timeout=900)
    assert codes == [0, 0], h.logs(train / "logs")
    return losses(work, "ref")


class QueueWatch:
    """Samples squeue for the run's chain jobs in a thread; remembers the most running at once."""

    def __init__(self, run: str):
        self.name, self.max_running, self.seen = f"cpt-train-{run}", 0, set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while not self._stop.wait(0.25):
            out = subprocess.run(["squeue", "-h", "-n", self.name, "-o", "%i %T"], capture_output=True, text=True)
            rows = [line.split() for line in out.stdout.splitlines()]
            self.seen |= {job for job, _ in rows}
            self.max_running = max(self.max_running, sum(state == "RUNNING" for _, state in rows))

    def running(self, state: str = "RUNNING") -> list[str]:
        out = subprocess.run(["squeue", "-h", "-n", self.name, "-t", state, "-o", "%i"], capture_output=True,
                             text=True)
        return out.stdout.split()

    def stop(self) -> "QueueWatch":
        self._stop.set()
        self._thread.join()
        return self


def controller(work: Path) -> subprocess.Popen:
    """A snakemake controller in its own session, so a kill takes its children with it (a reboot)."""
    return subprocess.Popen([sys.executable, "-m", "snakemake", *ARGS, *SLURM], cwd=work, env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)


def wait_for(condition, what: str, timeout: float = 300) -> None:
    deadline = time.time() + timeout
    while not condition():
        assert time.time() < deadline, f"timed out waiting for {what}"
        time.sleep(0.5)


def trained_past(work: Path, run: str, step: int) -> bool:
    from cpt.rundir.lineage import complete_steps

    steps = complete_steps(work / "results" / run / "train" / "checkpoints")
    return bool(steps) and steps[-1] >= step


def kill_controller(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate()


def finish(work: Path) -> subprocess.CompletedProcess:
    """--unlock after the kill, then the same command again, run to its end."""
    snakemake(work, "--unlock", *ARGS)
    return subprocess.run([sys.executable, "-m", "snakemake", *ARGS, *SLURM], cwd=work, env=ENV,
                          capture_output=True, text=True, timeout=600)


def job_logs(work: Path, run: str) -> dict[str, str]:
    return {p.stem: p.read_text() for p in (work / "results" / run / "train" / "jobs").glob("*.log")}


def controller_submissions(work: Path, run: str, seen: set[str]) -> set[str]:
    """Chain jobs not queued by another chain job (as its successor): those a controller submitted."""
    successors = {m for text in job_logs(work, run).values() for m in re.findall(r"successor (\d+) queued", text)}
    return seen - successors


def killed_mid_segment(work: Path, run: str) -> QueueWatch:
    """Start a controller, let the chain job train a little, kill the controller's whole session."""
    watch = QueueWatch(run)
    proc = controller(work)
    wait_for(lambda: watch.running() and trained_past(work, run, 40), "segment 1 to train")
    kill_controller(proc)
    assert watch.running(), "the chain job must outlive its controller"
    return watch


def status(work: Path) -> dict:
    """The status view (python -m cpt.status) of the run as a user would call it, read back from its JSON."""
    out = work / "status.json"
    done = subprocess.run([sys.executable, "-m", "cpt.status", "config.yaml", "overlay.yaml", "--json", str(out)],
                          cwd=work, env=ENV, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(out.read_text())


def test_killed_controller_restarted_adopts_the_chain(slurm_cluster, tmp_path, model_dir, reference):
    work, run = workdir(tmp_path, model_dir, "killed"), "killed"
    before = status(work)
    assert before["segments"]["done"] == 0 and before["last"] is None and before["slurm"].endswith("from squeue")
    watch = killed_mid_segment(work, run)
    mid = status(work)   # controller down, the chain job training
    assert [j["job_id"] for j in mid["segments"]["running"]] == watch.running()
    assert mid["last"]["step"] >= 40 and mid["eta_hours"] > 0 and mid["segments"]["pending"]
    result = finish(work)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    watch.stop()
    assert watch.max_running == 1, watch.seen
    assert len(controller_submissions(work, run, watch.seen)) == 1  # the restarted controller submitted nothing
    # it adopted the live chain, or found its steps done by the chain alone (a slow restart)
    restarted = (work / "results" / run / "logs/train/step-00000100.log").read_text()
    assert "adopting the run's training job" in restarted or "is complete" in restarted, restarted
    got = losses(work, run)
    assert {s: got[s] for s in reference} == reference
    after = status(work)
    assert after["segments"]["done"] == after["segments"]["total"] == 2 and after["eta"] == "finished"
    assert after["last"]["step"] == STEPS and not after["segments"]["running"]


def test_scancel_of_the_running_job_then_restart(slurm_cluster, tmp_path, model_dir, reference):
    work, run = workdir(tmp_path, model_dir, "cancelled"), "cancelled"
    watch = killed_mid_segment(work, run)
    victim = watch.running()[0]
    subprocess.run(["scancel", victim], check=True)
    result = finish(work)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    watch.stop()
    assert watch.max_running == 1, watch.seen
    assert len(watch.seen) >= 2 and len(controller_submissions(work, run, watch.seen)) == 1  # the successor took over
    got = losses(work, run)
    assert {s: got[s] for s in reference} == reference


def test_time_limit_stops_continue_beyond_the_retry_budget(slurm_cluster, tmp_path, model_dir, reference):
    """2-minute jobs warned 50 s before their end, resubmits 0: each job trains a part, saves on
    USR1 (flushing its metrics), exits 0, and its queued successor continues; none counts as a
    failure. The first job also gets USR1 by hand (Slurm checks time limits every ~30 s, so on a
    fast machine the run could end inside one job's window). A record naming a job Slurm no
    longer knows is stale: it does not block the first submission."""
    work, run = workdir(tmp_path, model_dir, "limited", hours=2 / 60, signal_seconds=50, resubmits=0), "limited"
    from cpt.chain import lease

    stale = {**lease.empty(run, work / "results" / run / "train"), "jobs": ["999999"], "owner": "999999"}
    lease.write(work / "results" / run / "train", stale)
    watch = QueueWatch(run)
    proc = controller(work)
    wait_for(lambda: watch.running() and trained_past(work, run, 20), "the first job to train")
    subprocess.run(["scancel", "--signal=USR1", watch.running()[0]], check=True)
    out, _ = proc.communicate(timeout=900)
    assert proc.returncode == 0, out[-4000:]
    # the controller returns once the last step is on disk; the last job then cancels its successor
    wait_for(lambda: not watch.running("PENDING,RUNNING,CONFIGURING,COMPLETING"),
             "the chain's last job to account and cancel its successor")
    watch.stop()
    assert watch.max_running == 1, watch.seen
    logs = job_logs(work, run)
    stops = [int(m) for text in logs.values() for m in re.findall(r"continuation: stopped at step (\d+)", text)]
    assert len(stops) >= 1 and len(logs) >= 2, {k: v[-1500:] for k, v in logs.items()}  # > resubmits + 1 jobs
    assert not any("real failure" in text for text in logs.values())
    got = losses(work, run)
    assert {s: got[s] for s in reference} == reference
    # the steps since the last metrics record were flushed at each stop
    assert set(stops) - {STEPS} <= set(got), (stops, sorted(got))
    record = json.loads((work / "results" / run / "train" / "writer.json").read_text())
    assert record["failures"] == 0 and record["jobs"] == []
