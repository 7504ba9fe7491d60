"""metrics.jsonl: reading it robustly, binning the loss, plotting it."""

import json

from cpt.report.plots import training_plots
from cpt.report.training import TRAINING_PLOTS, bin_means, read_log, tokens_at

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def write_metrics(path, steps=range(10, 301, 10)):
    lines = [json.dumps({"step": s, "loss": 10.0 - s / 100, "lr": 3e-3 * min(1, s / 20),
                         "grad_norm": 1.0, "step_time_s": 0.1, "data_wait_s": 0.0,
                         "tokens_per_s": 5000.0, "tokens_per_s_per_device": 2500.0, "mfu": 0.01,
                         "tokens_seen": s * 1024, "memory_peak_gb": 0.1}) for s in steps]
    # a resumed segment re-logs step 150 with a different value; a killed job tears the last line
    lines.append(json.dumps({"step": 150, "loss": 8.0, "tokens_seen": 150 * 1024}))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + '\n{"step": 310, "lo')
    return path


def test_read_log_keeps_last_record_per_step_and_skips_torn_lines(tmp_path):
    log = read_log(write_metrics(tmp_path / "metrics.jsonl"))
    assert len(log.records) == 30 and log.skipped_lines == 1
    steps, loss = log.series("loss")
    assert steps[14] == 150 and loss[14] == 8.0
    assert log.series("lr")[0][:2] == [10, 20]  # the re-logged 150 has no lr: left out of lr only


def test_bins_are_keyed_by_their_last_step():
    assert bin_means([1, 50, 100, 101, 250], [1.0, 2.0, 3.0, 4.0, 5.0], 100) == (
        [100, 200, 300], [2.0, 4.0, 5.0])


def test_tokens_seen_prefers_the_trainers_count(tmp_path):
    log = read_log(write_metrics(tmp_path / "m.jsonl"))
    assert tokens_at(0, log, 999) == 0
    assert tokens_at(150, log, 999) == 150 * 1024
    assert tokens_at(305, log, 1000) == 305_000
    assert tokens_at(305, log, None) is None


def test_training_plots_are_pngs_with_or_without_metrics(tmp_path):
    log = read_log(write_metrics(tmp_path / "metrics.jsonl"))
    for source in (log, read_log(tmp_path / "absent.jsonl")):
        out = tmp_path / ("with" if source is log else "without")
        paths = training_plots(source, out, 100, 50)
        assert [p.stem for p in paths] == list(TRAINING_PLOTS)
        assert all(p.read_bytes().startswith(PNG_MAGIC) for p in paths)
