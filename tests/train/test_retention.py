"""Weights-only older checkpoints (cpt.train.retention) on real DCP checkpoints: what is rewritten,
that the weights survive bit for bit, crash recovery, and the explicit weights-only resume."""

import torch
from torch import nn

import pytest
from cpt.train import checkpoint, retention


def full_checkpoint(root, step: int, seed: int) -> dict[str, torch.Tensor]:
    """A real checkpoint with AdamW state (one optimizer step taken); returns its weights."""
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(64, 64), nn.Linear(64, 8))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model(torch.randn(4, 64)).sum().backward()
    optimizer.step()
    checkpoint.save(checkpoint.step_dir(root, step), model, optimizer, {"step": step, "rows_consumed": 4 * step})
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def dir_bytes(path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


@pytest.fixture
def chain(tmp_path):
    """Steps 10..60 every 10; segment ends 30 and 60; keep_last 2."""
    weights = {step: full_checkpoint(tmp_path, step, seed=step) for step in range(10, 70, 10)}
    return tmp_path, weights


def test_keep_optimizer_of_newest_end_and_keep_last():
    assert retention.keep_optimizer([0, 30, 40, 50], {30, 60}, keep_last=2) == {30, 40, 50}
    assert retention.keep_optimizer([0, 30, 40, 50, 60], {30, 60}, keep_last=2) == {50, 60}


def test_older_checkpoints_become_weights_only_with_the_same_weights(chain):
    root, weights = chain
    before = dir_bytes(checkpoint.step_dir(root, 30))
    rewritten = retention.drop_optimizer_state(root, segment_ends={30, 60}, keep_last=2)
    assert rewritten == [10, 20, 30, 40]
    for step in (10, 20, 30, 40):
        record = checkpoint.marker(checkpoint.step_dir(root, step))
        assert record["has_optimizer"] is False and record["optimizer_dropped"] is True
        assert record["rows_consumed"] == 4 * step                # the data position is kept
        loaded = checkpoint.load_model_weights(checkpoint.step_dir(root, step))
        assert loaded.keys() == weights[step].keys()
        assert all(torch.equal(loaded[k], weights[step][k]) for k in loaded)
    assert dir_bytes(checkpoint.step_dir(root, 30)) < before / 2    # weights + 2 moments -> weights
    for step in (50, 60):
        assert checkpoint.marker(checkpoint.step_dir(root, step))["has_optimizer"] is True
    assert retention.drop_optimizer_state(root, segment_ends={30, 60}, keep_last=2) == []   # idempotent
    assert sorted(p.name for p in root.iterdir()) == [f"step-{s:08d}" for s in range(10, 70, 10)]


@pytest.mark.parametrize("crash", ["between renames", "before the rewrite finished"])
def test_recover_after_a_crash_mid_rewrite(chain, crash):
    root, weights = chain
    path = checkpoint.step_dir(root, 30)
    tmp, old = root / f"{path.name}{retention.REWRITTEN}", root / f"{path.name}{retention.REPLACED}"
    checkpoint.save_weights(tmp, checkpoint.load_model_weights(path), {"step": 30})
    if crash == "before the rewrite finished":
        (tmp / checkpoint.MARKER).unlink()
    path.rename(old)
    assert 30 not in checkpoint.complete_steps(root)
    retention.recover(root)
    assert 30 in checkpoint.complete_steps(root) and not tmp.exists() and not old.exists()
    expected = crash == "before the rewrite finished"             # the original, with its optimizer, is back
    assert bool(checkpoint.marker(path)["has_optimizer"]) is expected


def test_resume_from_weights_only_is_explicit(chain, caplog):
    root, _ = chain
    retention.drop_optimizer_state(root, segment_ends={30, 60}, keep_last=2)
    retention.check_resume(checkpoint.step_dir(root, 60), environ={})          # has its optimizer
    with pytest.raises(checkpoint.CheckpointError, match="CPT_RESUME_WEIGHTS_ONLY=1"):
        retention.check_resume(checkpoint.step_dir(root, 30), environ={})
    retention.check_resume(checkpoint.step_dir(root, 30), environ={retention.RESUME_ENV: "1"})
    assert "the optimizer restarts" in caplog.text
