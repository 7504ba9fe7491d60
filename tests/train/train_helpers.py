"""Test building blocks: train configs, and a launcher that starts real
`torch.distributed` ranks the way torchrun does (env vars, one process each)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import yaml

from cpt.demo.synthetic import SEQ_LEN, VOCAB, make_data, make_model_dir  # noqa: F401 (re-exported)


def train_config(path: Path, **overrides) -> Path:
    """A train: section for the tiny model (fp32, eager, log every step)."""
    section = {"steps": 6, "steps_per_segment": 6, "local_batch": 4, "seed": 0,
               "parallel": {"dp_replicate": 1, "dp_shard": 1, "tp": 1},
               "compile": False, "activation_checkpointing": "none", "param_dtype": "float32",
               "optimizer": {"lr": 1e-2, "weight_decay": 0.1, "grad_clip": 1.0},
               "schedule": {"warmup_steps": 2, "decay_end_step": 100},
               "checkpoint": {"interval": 2, "keep_last": 2, "keep_every": 100}, "log_interval": 1}
    for key, value in overrides.items():
        section[key] = {**section[key], **value} if isinstance(value, dict) else value
    path.write_text(yaml.safe_dump({"train": section}))
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(nprocs: int, argv: list[str], log_dir: Path, env: dict | None = None) -> list[subprocess.Popen]:
    """`nprocs` ranks of `python <argv>` with torchrun's environment (real gloo process group)."""
    port = free_port()
    log_dir.mkdir(parents=True, exist_ok=True)
    procs = []
    for rank in range(nprocs):
        rank_env = {**os.environ, "RANK": str(rank), "WORLD_SIZE": str(nprocs), "LOCAL_RANK": str(rank),
                    "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "OMP_NUM_THREADS": "1",
                    **(env or {})}
        out = open(log_dir / f"rank{rank}.log", "ab")
        procs.append(subprocess.Popen([sys.executable, *argv], env=rank_env, stdout=out, stderr=subprocess.STDOUT))
    return procs


def wait(procs: list[subprocess.Popen], log_dir: Path, timeout: float = 240) -> list[int]:
    deadline = time.monotonic() + timeout
    codes = []
    for proc in procs:
        try:
            codes.append(proc.wait(timeout=max(deadline - time.monotonic(), 1)))
        except subprocess.TimeoutExpired:
            kill(procs)
            raise AssertionError(f"ranks timed out; logs:\n{logs(log_dir)}") from None
    return codes


def kill(procs: list[subprocess.Popen], sig: int = signal.SIGKILL) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(sig)
    for proc in procs:
        proc.wait()


def logs(log_dir: Path, tail: int | None = 3000) -> str:
    """Each rank's log, its last `tail` characters (a failure's message); None: the whole log."""
    return "\n".join(f"--- {f.name}\n{f.read_text()[-tail if tail else 0:]}" for f in sorted(log_dir.glob("*.log")))


def run_ok(nprocs: int, argv: list[str], log_dir: Path, env: dict | None = None, timeout: float = 240) -> None:
    codes = wait(start(nprocs, argv, log_dir, env), log_dir, timeout)
    assert codes == [0] * nprocs, f"exit codes {codes}; logs:\n{logs(log_dir)}"


def trainer_argv(cfg: Path, manifest: Path, model_dir: Path, train_dir: Path, until: int | None = None) -> list[str]:
    argv = ["-m", "cpt.train", "--train-config", str(cfg), "--manifest", str(manifest), "--base-dir", str(model_dir),
            "--train-dir", str(train_dir), "--seq-len", str(SEQ_LEN)]
    return argv + (["--until-step", str(until)] if until else [])


def import_step0(model_dir: Path, train_dir: Path) -> None:
    from cpt.convert.import_base import import_base
    import_base(model_dir, train_dir / "checkpoints")


def losses(train_dir: Path) -> dict[int, float]:
    lines = (train_dir / "metrics.jsonl").read_text().splitlines()
    return {r["step"]: r["loss"] for r in map(json.loads, lines)}


def torchrun(nprocs: int, argv: list[str], log: Path) -> subprocess.Popen:
    """A real torchrun launcher of `nprocs` ranks (each in a session of its own), output to `log`."""
    log.parent.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen([sys.executable, "-m", "torch.distributed.run", "--standalone",
                             f"--nproc-per-node={nprocs}", *argv], env={**os.environ, "OMP_NUM_THREADS": "1"},
                            stdout=open(log, "ab"), stderr=subprocess.STDOUT)


def children(pid: int) -> list[int]:
    """Live processes whose parent is `pid` (from /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def running(pid: int) -> bool:
    """The process exists and is not a zombie (an orphan's exit status goes to whoever adopted it)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return False
