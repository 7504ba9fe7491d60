"""Real multi-process runs of the trainer (gloo on CPU): parallel equivalence,
resharding, compiled TP gradients, exact resume after kill -9 and SIGUSR1, one trainer per train dir."""

import contextlib
import json
import os
import shutil
import signal
import socket
import time

import pytest
import torch

import train_helpers as h
from cpt.rundir import trainer_lock
from cpt.train import checkpoint, loop
from cpt.data.formats import ManifestError
from cpt.train.config import TrainConfig

HSDP = {"dp_replicate": 2, "dp_shard": 2, "tp": 1}
HSDP_TP = {"dp_replicate": 2, "dp_shard": 2, "tp": 2}
GLOBAL_BATCH = 4
METRIC_KEYS = {"step", "loss", "lr", "grad_norm", "step_time_s", "data_wait_s", "tokens_per_s",
               "tokens_per_s_per_device", "mfu", "tokens_seen", "memory_peak_gb"}


def train(tmp, name, model_dir, manifest, nprocs, parallel, until=None, env=None, timeout=240, **cfg):
    """Import step 0 (unless the dir has checkpoints) and run the trainer on `nprocs` ranks."""
    train_dir = tmp / name
    if not checkpoint.complete_steps(train_dir / "checkpoints"):
        h.import_step0(model_dir, train_dir)
    dp = parallel["dp_replicate"] * parallel["dp_shard"]
    config = h.train_config(tmp / f"{name}.yaml", parallel=parallel, local_batch=GLOBAL_BATCH // dp, **cfg)
    h.run_ok(nprocs, h.trainer_argv(config, manifest, model_dir, train_dir, until), tmp / f"{name}-logs", env, timeout)
    return train_dir


@pytest.fixture(scope="module")
def single(tmp_path_factory, model_dir, manifest):
    tmp = tmp_path_factory.mktemp("single")
    return h.losses(train(tmp, "single", model_dir, manifest, 1, {"dp_replicate": 1, "dp_shard": 1, "tp": 1}))


@pytest.mark.parametrize("nprocs,parallel", [
    pytest.param(4, HSDP, id="hsdp-2x2"),
    pytest.param(8, HSDP_TP, id="hsdp-tp-2x2x2", marks=pytest.mark.slow),  # 8 ranks on 2 cores: ~80 s
])
def test_parallel_losses_match_single_process(tmp_path, model_dir, manifest, single, nprocs, parallel):
    losses = h.losses(train(tmp_path, "run", model_dir, manifest, nprocs, parallel))
    assert losses.keys() == single.keys()
    for step in single:
        assert losses[step] == pytest.approx(single[step], abs=1e-5), step
    if nprocs == 8:  # reshard: the step-4 checkpoint saved on 8 ranks resumes on 2 and on 1
        for n, mesh in ((2, {"dp_replicate": 1, "dp_shard": 2, "tp": 1}),
                        (1, {"dp_replicate": 1, "dp_shard": 1, "tp": 1})):
            target = tmp_path / f"load{n}" / "checkpoints"
            target.mkdir(parents=True)
            shutil.copytree(tmp_path / "run" / "checkpoints" / "step-00000004", target / "step-00000004")
            resumed = h.losses(train(tmp_path, f"load{n}", model_dir, manifest, n, mesh, until=5))
            assert list(resumed) == [5]
            assert resumed[5] == pytest.approx(losses[5], abs=1e-5)


def test_compiled_tp_gradients_equal_eager(tmp_path, model_dir):
    """Guards the torch 2.13 trap: TP embedding into compiled blocks gave wrong gradients. TP alone
    (2 ranks: each rank compiles, so 4 took twice the CPU); compile under FSDP x TP is
    test_production's 4-rank run."""
    step0 = checkpoint.step_dir(tmp_path / "checkpoints", 0)
    h.import_step0(model_dir, tmp_path)
    config = h.train_config(tmp_path / "tp.yaml", parallel={"dp_shard": 1, "tp": 2})
    out = tmp_path / "grads.pt"
    worker = str(h.Path(__file__).with_name("grad_worker.py"))
    h.run_ok(2, [worker, str(config), str(model_dir), str(step0), str(out)], tmp_path / "logs")
    grads = torch.load(out)
    assert grads["eager"].keys() == grads["compiled"].keys()
    for name, eager in grads["eager"].items():
        torch.testing.assert_close(grads["compiled"][name], eager, atol=1e-6, rtol=1e-5, msg=name)


# Exact resume: 2 ranks (FSDP over 2), 30 steps, checkpoint every 4.
DP2 = {"dp_replicate": 1, "dp_shard": 2, "tp": 1}
LONG = {"steps": 30, "steps_per_segment": 30, "checkpoint": {"interval": 4, "keep_last": 2}}


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, model_dir, manifest):
    tmp = tmp_path_factory.mktemp("uninterrupted")
    return h.losses(train(tmp, "ref", model_dir, manifest, 2, DP2, **LONG))


def wait_for_step(train_dir, step, procs, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        metrics = train_dir / "metrics.jsonl"
        if metrics.exists() and len(metrics.read_text().splitlines()) >= step:
            assert all(p.poll() is None for p in procs), "the run ended before it could be interrupted"
            return
        time.sleep(0.01)
    raise AssertionError(f"step {step} not reached")


def start(tmp, model_dir, manifest, env=None):
    train_dir = tmp / "run"
    h.import_step0(model_dir, train_dir)
    config = h.train_config(tmp / "run.yaml", parallel=DP2, local_batch=2, **LONG)
    argv = h.trainer_argv(config, manifest, model_dir, train_dir)
    return train_dir, argv, h.start(2, argv, tmp / "logs", env)


def test_kill9_mid_run_resumes_bitwise(tmp_path, model_dir, manifest, uninterrupted):
    train_dir, argv, procs = start(tmp_path, model_dir, manifest)
    wait_for_step(train_dir, 6, procs)
    h.kill(procs)
    interrupted_at = checkpoint.complete_steps(train_dir / "checkpoints")[-1]
    assert 4 <= interrupted_at < 30
    h.run_ok(2, argv, tmp_path / "logs")
    assert h.losses(train_dir) == uninterrupted  # bitwise: exact float equality


def test_kill9_during_checkpoint_write_resumes_bitwise(tmp_path, model_dir, manifest, uninterrupted):
    train_dir, argv, procs = start(tmp_path, model_dir, manifest, env={"CPT_TRAIN_CRASH_BEFORE_MARKER": "8"})
    assert h.wait(procs, tmp_path / "logs") == [-signal.SIGKILL] * 2
    step8 = checkpoint.step_dir(train_dir / "checkpoints", 8)
    assert any(step8.glob("*.distcp")) and checkpoint.marker(step8) is None
    assert checkpoint.latest(train_dir / "checkpoints").name == "step-00000004"
    h.run_ok(2, argv, tmp_path / "logs")
    assert h.losses(train_dir) == uninterrupted


def test_sigusr1_saves_exits_0_and_resumes(tmp_path, model_dir, manifest, uninterrupted):
    train_dir, argv, procs = start(tmp_path, model_dir, manifest)
    wait_for_step(train_dir, 3, procs)
    procs[1].send_signal(signal.SIGUSR1)  # one rank is enough: the request is shared at the step boundary
    assert h.wait(procs, tmp_path / "logs") == [0, 0]
    stopped = checkpoint.complete_steps(train_dir / "checkpoints")[-1]
    assert 3 <= stopped < 30 and max(h.losses(train_dir)) == stopped
    h.run_ok(2, argv, tmp_path / "logs")
    assert h.losses(train_dir) == uninterrupted
    records = [json.loads(line) for line in (train_dir / "metrics.jsonl").read_text().splitlines()]
    assert all(METRIC_KEYS <= record.keys() for record in records)


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path, model_dir, manifest):
    train_dir = tmp_path / "run"
    h.import_step0(model_dir, train_dir)
    config = h.train_config(tmp_path / "diverge.yaml", optimizer={"lr": 1e30, "grad_clip": 1e30},
                            schedule={"warmup_steps": 0}, checkpoint={"interval": 1})
    codes = h.wait(h.start(1, h.trainer_argv(config, manifest, model_dir, train_dir), tmp_path / "logs"),
                   tmp_path / "logs")
    assert codes == [1]
    assert "is not finite" in h.logs(tmp_path / "logs")
    good = checkpoint.complete_steps(train_dir / "checkpoints")[-1]
    assert 1 <= good < 6 and max(h.losses(train_dir)) == good


def test_bad_inputs_fail_before_training(tmp_path, model_dir, manifest, monkeypatch):
    h.import_step0(model_dir, tmp_path)
    paths = loop.Paths(manifest, model_dir, tmp_path)
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "2")

    def config(**parallel):
        return TrainConfig.from_dict({"steps": 1, "steps_per_segment": 1, "local_batch": 1, "parallel": parallel})

    with pytest.raises(loop.launch.LaunchError, match="2 x 2 x 1 = 4, but 2 processes"):
        loop.run(config(**HSDP), paths, seq_len=h.SEQ_LEN, until_step=1)
    with pytest.raises(loop.launch.LaunchError, match="tp=2 does not divide data.seq_len"):
        loop.run(config(tp=2), paths, seq_len=h.SEQ_LEN + 1, until_step=1)
    with pytest.raises(ManifestError, match="seq_len"):
        loop.run(config(dp_shard=2), paths, seq_len=2 * h.SEQ_LEN, until_step=1)
    # a later segment's checkpoint is no place to start this one from
    (checkpoint.step_dir(tmp_path / "checkpoints", 2) / checkpoint.MARKER).parent.mkdir()
    (checkpoint.step_dir(tmp_path / "checkpoints", 2) / checkpoint.MARKER).write_text('{"step": 2}')
    (checkpoint.step_dir(tmp_path / "checkpoints", 0) / checkpoint.MARKER).unlink()
    # Found after the process group starts (the train dir is read under the trainer's lock): one rank.
    monkeypatch.setenv("WORLD_SIZE", "1")
    monkeypatch.setenv("MASTER_PORT", str(h.free_port()))
    with pytest.raises(checkpoint.CheckpointError, match="no complete checkpoint of this run up to step 1"):
        loop.run(config(), paths, seq_len=h.SEQ_LEN, until_step=1)
    with trainer_lock.held(tmp_path):  # another trainer (here: this process, through another open file)
        with pytest.raises(trainer_lock.TrainDirBusy, match=f"another trainer .host {socket.gethostname()}, "
                                                           f"pid {os.getpid()}, since "):
            loop.run(config(), paths, seq_len=h.SEQ_LEN, until_step=1)
    assert not (tmp_path / "metrics.jsonl").exists()


@pytest.mark.slow
def test_second_trainer_on_a_live_train_dir_is_refused(tmp_path, model_dir, manifest, uninterrupted):
    """torchrun killed with SIGKILL: its ranks (sessions of their own) train on as orphans. A second
    trainer on the same train dir stops before touching it, naming the holder; the first finishes
    with the losses of a run that was never disturbed."""
    train_dir = tmp_path / "run"
    h.import_step0(model_dir, train_dir)
    config = h.train_config(tmp_path / "run.yaml", parallel=DP2, local_batch=2, **LONG)
    argv = h.trainer_argv(config, manifest, model_dir, train_dir)
    launcher = h.torchrun(2, argv, tmp_path / "first.log")
    first_log = lambda: (tmp_path / "first.log").read_text()[-3000:]  # noqa: E731
    metrics, deadline = train_dir / "metrics.jsonl", time.monotonic() + 180
    logged = lambda: metrics.exists() and metrics.read_text().endswith("\n")  # noqa: E731 (a step, not an empty file)
    while not logged() and time.monotonic() < deadline and launcher.poll() is None:
        time.sleep(0.01)
    ranks = h.children(launcher.pid)
    assert logged() and len(ranks) == 2, first_log()
    try:
        for pid in ranks:  # frozen, so they cannot finish before the second trainer has tried
            os.kill(pid, signal.SIGSTOP)
        launcher.kill()
        launcher.wait()
        assert max(h.losses(train_dir)) < 30, "the run ended before it could be interrupted"
        holder = json.loads((train_dir / trainer_lock.RECORD).read_text())
        assert holder["pid"] in ranks and all(h.running(pid) for pid in ranks)
        before = sorted((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in train_dir.rglob("*"))
        second = h.torchrun(2, argv, tmp_path / "second.log")
        assert second.wait(timeout=180) != 0
        out = (tmp_path / "second.log").read_text()
        assert (f"{train_dir} is being trained by another trainer (host {socket.gethostname()}, pid {holder['pid']}, "
                f"since {holder['since']})") in out, out[-3000:]
        assert f"`kill {holder['pid']}`" in out
        assert sorted((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in train_dir.rglob("*")) == before
        for pid in ranks:
            os.kill(pid, signal.SIGCONT)
        deadline = time.monotonic() + 240
        while any(h.running(pid) for pid in ranks) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(h.running(pid) for pid in ranks), first_log()
    finally:  # whatever failed, no orphan rank is left stopped or training behind the test
        for pid in ranks:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)   # ends a stopped process too
    assert h.losses(train_dir) == uninterrupted, first_log()  # bitwise
    assert checkpoint.complete_steps(train_dir / "checkpoints")[-1] == 30
