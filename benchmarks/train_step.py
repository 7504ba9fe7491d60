"""Trainer step time vs a bare single-process loop of the same model and batch.

The trainer runs as one real rank (gloo; with one DP rank in fp32 it skips FSDP,
which would only copy) with its loader, metrics and loss all-reduce; the bare loop is forward, backward, grad
clipping and AdamW on the plain module. Both in fp32 on this machine's cores.
The bare loop runs before and after the trainer; the fastest step of each side is
compared (robust to other jobs sharing the cores), medians are shown too.
Target: trainer / bare <= 1.03.

    python benchmarks/train_step.py [--dim 256 --layers 4 --seq-len 256 --batch 8 --steps 30]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
import yaml

from cpt.train import hf
from cpt.train.model import Llama
from cpt.demo.synthetic import make_data, make_model_dir

WARMUP = 5  # steps left out of the medians (allocator and thread-pool warmup)


def trainer_step_times(root: Path, model_dir: Path, manifest: Path, ns) -> list[float]:
    section = {"steps": ns.steps, "steps_per_segment": ns.steps, "local_batch": ns.batch, "log_interval": 1,
               "optimizer": {"lr": 1e-4}, "schedule": {"warmup_steps": 1, "decay_end_step": ns.steps},
               "checkpoint": {"interval": 10 * ns.steps, "keep_every": 10 * ns.steps}}
    (root / "train.yaml").write_text(yaml.safe_dump(section))
    from cpt.convert.import_base import import_base
    import_base(model_dir, root / "train" / "checkpoints")
    env = {**os.environ, "RANK": "0", "WORLD_SIZE": "1", "LOCAL_RANK": "0", "MASTER_ADDR": "127.0.0.1",
           "MASTER_PORT": "29517"}
    subprocess.run([sys.executable, "-m", "cpt.train", "--train-config", str(root / "train.yaml"),
                    "--manifest", str(manifest), "--base-dir", str(model_dir), "--train-dir", str(root / "train"),
                    "--seq-len", str(ns.seq_len)], env=env, check=True, stderr=subprocess.DEVNULL)
    records = [json.loads(line) for line in (root / "train" / "metrics.jsonl").read_text().splitlines()]
    return [r["step_time_s"] for r in records[WARMUP:]]


def bare_step_times(model_dir: Path, ns) -> list[float]:
    model = Llama(hf.model_args(model_dir), ns.seq_len)
    model.load_state_dict(hf.load_hf_state_dict(model_dir))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.95), weight_decay=0.1)
    tokens = torch.randint(0, ns.vocab, (ns.batch, ns.seq_len + 1))
    times = []
    for _ in range(ns.steps):
        start = time.perf_counter()
        logits = model(tokens[:, :-1])
        F.cross_entropy(logits.flatten(0, 1).float(), tokens[:, 1:].flatten()).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        times.append(time.perf_counter() - start)
    return times[WARMUP:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--vocab", type=int, default=2048)
    parser.add_argument("--seq-len", type=int, default=256)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=30)
    ns = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        model_dir = make_model_dir(root / "model", dim=ns.dim, layers=ns.layers, heads=8, kv_heads=4,
                                   vocab=ns.vocab, max_positions=ns.seq_len)
        manifest = make_data(root / "data", model_dir, rows=ns.batch * ns.steps, seq_len=ns.seq_len,
                             vocab=ns.vocab)
        bare = bare_step_times(model_dir, ns)
        trainer = trainer_step_times(root, model_dir, manifest, ns)
        bare += bare_step_times(model_dir, ns)
    print(f"model dim {ns.dim} x {ns.layers} layers, batch {ns.batch} x {ns.seq_len} tokens, fp32, "
          f"{torch.get_num_threads()} threads; ms/step")
    print(f"{'':>12}  {'fastest':>8}  {'median':>8}")
    for name, times in (("bare loop", bare), ("trainer", trainer)):
        print(f"{name:>12}: {min(times) * 1e3:8.1f}  {statistics.median(times) * 1e3:8.1f}")
    fastest, median = min(trainer) / min(bare), statistics.median(trainer) / statistics.median(bare)
    print(f"{'ratio':>12}: {fastest:8.3f}x {median:8.3f}x (target <= 1.03x)")

if __name__ == "__main__":
    main()
