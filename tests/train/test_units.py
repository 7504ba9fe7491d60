"""Single-process pieces: schedule, launch detection, loader, retention, config, metrics."""

import json

import numpy as np
import pytest
import torch

from cpt.data.formats import ManifestError
from cpt.rundir import trainer_lock
from cpt.train import checkpoint, launch
from cpt.train.config import TrainConfig, checkpointed_blocks, load_train_config
from cpt.train.data import Loader, RowReader, open_shards
from cpt.rundir.metrics import truncate_after
from cpt.train.metrics import peak_flops, peak_tflops
from cpt.train.model import ModelArgs
from cpt.train.schedule import lr_at
from train_helpers import SEQ_LEN


def test_schedule_matches_the_seed():
    lr = lambda s: lr_at(s, peak=3e-5, warmup_steps=500, decay_end_step=500_000)  # noqa: E731
    assert lr(1) == pytest.approx(6e-8)
    assert lr(500) == 3e-5
    assert lr(250_250) == pytest.approx(1.5e-5)
    assert lr(500_000) == 0.0 and lr(600_000) == 0.0


def test_detect_torchrun_and_slurm():
    torchrun = {"RANK": "3", "WORLD_SIZE": "8", "LOCAL_RANK": "1", "MASTER_ADDR": "n1", "MASTER_PORT": "1234"}
    assert launch.detect(torchrun) == launch.Ranks(3, 8, 1, "n1", 1234)
    slurm = {"SLURM_PROCID": "13", "SLURM_NTASKS": "512", "SLURM_LOCALID": "5", "SLURM_JOB_ID": "20123",
             "SLURM_JOB_NODELIST": "frontier[08012-08015,08020],frontier09000"}
    assert launch.detect(slurm) == launch.Ranks(13, 512, 5, "frontier08012", 20123)
    assert launch.detect({**slurm, "MASTER_PORT": "29400"}).master_port == 29400
    assert launch.first_host("login1") == "login1"
    assert launch.detect({}) == launch.Ranks(0, 1, 0, "127.0.0.1", 29500)


def test_mesh_must_match_world():
    assert launch.check_mesh({"dp_replicate": 2, "dp_shard": 32, "tp": 8}, 512) == (2, 32, 8)
    with pytest.raises(launch.LaunchError, match="2 x 2 x 2 = 8, but 4 processes"):
        launch.check_mesh({"dp_replicate": 2, "dp_shard": 2, "tp": 2}, 4)


def test_loader_slices_are_disjoint_deterministic_and_wrap(model_dir, manifest):
    shards = open_shards(manifest, seq_len=SEQ_LEN, tokenizer_sha256=_sha(model_dir))
    reader = RowReader(shards)
    assert reader.total == 96
    everything = reader.take(0, 96)
    loaders = [Loader(reader, local_batch=5, dp_rank=r, dp_size=2, position=40) for r in range(2)]
    try:
        for step in range(6):  # 6 x 10 rows from row 40 wraps past 96
            batches = [next(loader) for loader in loaders]
            for rank, (inputs, targets) in enumerate(batches):
                first = 40 + step * 10 + rank * 5
                expected = everything[np.arange(first, first + 5) % 96].astype(np.int64)
                np.testing.assert_array_equal(inputs.numpy(), expected[:, :-1])
                np.testing.assert_array_equal(targets.numpy(), expected[:, 1:])
        assert loaders[0].position == 100
    finally:
        for loader in loaders:
            loader.close()


def test_manifest_mismatch_is_refused(model_dir, manifest):
    with pytest.raises(ManifestError, match="seq_len"):
        open_shards(manifest, seq_len=64, tokenizer_sha256=_sha(model_dir))
    with pytest.raises(ManifestError, match="tokenizer"):
        open_shards(manifest, seq_len=SEQ_LEN, tokenizer_sha256="0" * 64)


def test_latest_ignores_incomplete_and_retention(tmp_path):
    for step in (0, 2, 4, 6, 8, 10, 12):
        (checkpoint.step_dir(tmp_path, step)).mkdir()
        if step != 12:  # step 12 was interrupted mid-write
            (checkpoint.step_dir(tmp_path, step) / checkpoint.MARKER).write_text(json.dumps({"step": step}))
    assert checkpoint.latest(tmp_path).name == "step-00000010"
    deleted = checkpoint.retain(tmp_path, keep_last=2, keep_every=4, protected={0, 6})
    assert deleted == [2]
    assert checkpoint.complete_steps(tmp_path) == [0, 4, 6, 8, 10]
    (checkpoint.step_dir(tmp_path, 12) / checkpoint.MARKER).write_text("{}")
    (checkpoint.step_dir(tmp_path, 14)).mkdir()
    checkpoint.step_dir(tmp_path, 9).mkdir()  # stale leftover older than the newest complete one
    assert checkpoint.retain(tmp_path, keep_last=1, keep_every=4, protected={0, 6}) == [9, 10]
    assert checkpoint.step_dir(tmp_path, 14).exists()


def test_config_segments_and_errors(tmp_path):
    cfg = TrainConfig.from_dict({"steps": 500_000, "steps_per_segment": 3500, "local_batch": 21})
    assert cfg.segments == 143 and cfg.segment_end(143) == 500_000 and cfg.segment_end(1) == 3500
    assert {0, 3500, 500_000} <= cfg.protected_steps()
    assert cfg.segment_ends()[:2] == [3500, 7000] and cfg.segment_ends()[-1] == 500_000
    with pytest.raises(ValueError, match="unknown keys \\['stpes'\\]"):
        TrainConfig.from_dict({"stpes": 1, "steps": 1, "steps_per_segment": 1, "local_batch": 1})
    with pytest.raises(ValueError, match="train.optimizer"):
        load_train_config('{"steps": 1, "steps_per_segment": 1, "local_batch": 1, "optimizer": {"lrr": 1}}')


def test_checkpointed_blocks_by_mode():
    """Selective takes every k-th block counting from 1, as torchtitan's layer-wise selective AC."""
    assert checkpointed_blocks("none", 2, 4) == []
    assert checkpointed_blocks("selective", 2, 5) == [1, 3]
    assert checkpointed_blocks("selective", 3, 8) == [2, 5]
    assert checkpointed_blocks("full", 2, 3) == [0, 1, 2] == checkpointed_blocks("selective", 1, 3)
    base = {"steps": 1, "steps_per_segment": 1, "local_batch": 1}
    with pytest.raises(ValueError, match=r"train.activation_checkpointing='some'; pick one of \['none', 'sel"):
        TrainConfig.from_dict({**base, "activation_checkpointing": "some"})
    with pytest.raises(ValueError, match="train.activation_checkpointing_every=0; it must be >= 1"):
        TrainConfig.from_dict({**base, "activation_checkpointing_every": 0})


def test_metrics_truncated_on_resume(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text("".join(json.dumps({"step": s, "loss": 1.0}) + "\n" for s in range(1, 8)))
    truncate_after(path, 4)
    assert [json.loads(line)["step"] for line in path.read_text().splitlines()] == [1, 2, 3, 4]


def _sha(model_dir):
    from cpt.atomic import sha256_file
    return sha256_file(model_dir / "tokenizer.json")


def test_llama31_8b_flavor_and_mfu_inputs():
    """The 8B is the same class with Meta's config.json numbers; its size pins the FLOP count."""
    hf_8b = {"hidden_size": 4096, "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 8,
             "intermediate_size": 14336, "vocab_size": 128256, "rms_norm_eps": 1e-5, "rope_theta": 500000.0,
             "max_position_embeddings": 131072, "tie_word_embeddings": False,
             "rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                              "original_max_position_embeddings": 8192}}
    args = ModelArgs.from_hf_config(hf_8b)
    assert args.num_params() == 8_030_261_248
    assert args.flops_per_token(8192) == 6 * (args.num_params(embeddings=False) + 128256 * 4096) + 12 * 32 * 4096 * 8192
    assert peak_flops(torch.device("cpu")) is None and peak_tflops("AMD Instinct MI250X") == 191.5


def test_peaks_by_exact_device_name():
    """The H200 has a peak (MFU was null there); a PCIe or NVL H100 never takes the SXM's 989."""
    assert peak_tflops("NVIDIA H200") == 989.0 and peak_tflops("NVIDIA H100 80GB HBM3") == 989.0
    assert peak_tflops("NVIDIA H100 PCIe") == 756.0 and peak_tflops("NVIDIA H100 NVL") == 835.0
    assert peak_tflops("NVIDIA H100") is None and peak_tflops("NVIDIA H100 SXM5 94GB") is None   # unlisted: no guess


def test_lock_mount_options_of_the_deepest_mount():
    mountinfo = ("22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"
                 "40 22 0:50 / /lustre/orion rw,nosuid shared:20 - lustre 10.0.0.1@o2ib:/orion rw,localflock\n"
                 "41 22 0:51 / /lustre/orion\\040old rw shared:21 - lustre 10.0.0.1@o2ib:/old rw,flock\n")
    assert "localflock" in trainer_lock.mount_options("/lustre/orion/proj/results", mountinfo)
    assert "flock" in trainer_lock.mount_options("/lustre/orion old/x", mountinfo)
    assert trainer_lock.mount_options("/lustre/orionx", mountinfo) == {"rw", "relatime"}

