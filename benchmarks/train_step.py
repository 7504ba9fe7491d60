"""Trainer step cost vs a bare single-process loop of the same model and batch, part by part.

The trainer side is the trainer's own code on one real rank (gloo; with one DP rank in fp32
it skips FSDP, which would only copy): its loader, `loop.gradients` (forward and backward with
the chunked loss, clipping, the loss all-reduce), AdamW, and `Metrics.step` writing
metrics.jsonl and TensorBoard every `--log-interval` steps. The bare loop is forward,
backward, grad clipping and AdamW on the plain module. Both in fp32, from the same weights.

Steps alternate (bare, trainer, bare, ...) in one process and each part is timed in CPU
seconds of the process (all its threads), so other jobs on a shared machine change neither
side's figure much; the median over rounds of each part is printed, and the ratio of the
medians of whole steps. Target: trainer / bare <= 1.03.

    python benchmarks/train_step.py [--dim 256 --layers 4 --seq-len 256 --batch 8 --rounds 40]
    python benchmarks/train_step.py --seq-len 1024 --batch 2
"""

import argparse
import os
import socket
import statistics
import tempfile
import time
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F

from cpt.atomic import sha256_file
from cpt.demo.synthetic import make_data, make_model_dir
from cpt.live.sinks import Sinks
from cpt.train import checkpoint, hf, launch
from cpt.train.config import TrainConfig
from cpt.train.data import Loader, RowReader, open_shards
from cpt.train.loop import build, clip_grad_norm, gradients
from cpt.train.metrics import Metrics
from cpt.train.model import Llama

WARMUP = 5  # rounds left out (allocator and thread-pool warmup)
GRADIENTS = "fwd + bwd + loss + clip"  # the trainer's adds its loss all-reduce


class Parts:
    """CPU seconds of the process per named part of one step."""

    def __init__(self):
        self.times: dict[str, list[float]] = {}

    def timed(self, name: str, fn, *args, **kwargs):
        start = time.process_time()
        out = fn(*args, **kwargs)
        self.times.setdefault(name, []).append(time.process_time() - start)
        return out

    def medians(self) -> dict[str, float]:
        rounds = len(next(iter(self.times.values())))
        totals = [sum(times[i] for times in self.times.values()) for i in range(rounds)]
        return {**{name: statistics.median(times[WARMUP:]) for name, times in self.times.items()},
                "whole step": statistics.median(totals[WARMUP:])}


def bare_gradients(model, tokens) -> None:
    logits = model(tokens[:, :-1])
    F.cross_entropy(logits.flatten(0, 1).float(), tokens[:, 1:].flatten()).backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)


def bare_step(model, optimizer, tokens, parts: Parts) -> None:
    parts.timed(GRADIENTS, bare_gradients, model, tokens)
    parts.timed("optimizer", lambda: (optimizer.step(), optimizer.zero_grad(set_to_none=True)))


class Trainer:
    """The trainer's pieces, built as `cpt.train.loop` builds them, stepped one step at a time."""

    def __init__(self, root: Path, model_dir: Path, manifest: Path, ns):
        self.cfg = TrainConfig.from_dict({"steps": ns.rounds, "steps_per_segment": ns.rounds, "local_batch": ns.batch,
                                          "log_interval": ns.log_interval, "optimizer": {"lr": 1e-4},
                                          "loss_chunk_tokens": ns.loss_chunk_tokens})
        args = hf.model_args(model_dir)
        device = launch.init_distributed(launch.detect())
        mesh = launch.build_mesh(self.cfg.parallel, device)
        self.model, self.optimizer = build(args, self.cfg, ns.seq_len, mesh, device)
        step0 = checkpoint.step_dir(root / "train" / "checkpoints", 0)
        from cpt.convert.import_base import import_base
        import_base(model_dir, step0.parent)
        checkpoint.load(step0, self.model, self.optimizer)
        shards = open_shards(manifest, seq_len=ns.seq_len, tokenizer_sha256=sha256_file(model_dir / "tokenizer.json"))
        self.loader = Loader(RowReader(shards), local_batch=ns.batch, dp_rank=0, dp_size=1, position=0)
        self.metrics = Metrics(root / "train" / "metrics.jsonl", write=True, device=device, n_devices=1,
                               flops_per_token=args.flops_per_token(ns.seq_len),
                               tokens_per_step=ns.batch * ns.seq_len, end_step=ns.rounds, total_steps=ns.rounds,
                               log_interval=ns.log_interval, sinks=Sinks(root / "train", {}, {}))
        self.step_number, self.seq_len = 0, ns.seq_len

    def step(self, parts: Parts) -> None:
        self.step_number += 1
        inputs, targets = parts.timed("data", next, self.loader)
        loss, grad_norm, _ = parts.timed(GRADIENTS, gradients, self.model, self.optimizer, inputs,
                                         targets, 1e-4, self.cfg, False, False)
        parts.timed("optimizer", lambda: (self.optimizer.step(), self.optimizer.zero_grad(set_to_none=True)))
        # The record's timings are placeholders: what is measured here is the cost of writing it.
        parts.timed("metrics + sinks", self.metrics.step, self.step_number, loss=loss, lr=1e-4, grad_norm=grad_norm,
                    step_time=0.1, data_wait=0.0, tokens_seen=self.step_number * self.seq_len)

    def close(self) -> None:
        self.loader.close()
        self.metrics.close()
        dist.destroy_process_group()


def inside_gradients(trainer: Trainer, bare_model, rounds: int = 20) -> dict[str, tuple[float, float]]:
    """The pieces of GRADIENTS in which the sides differ, timed alone on the gradients of the last
    step (median CPU seconds, bare and trainer): clipping, and the trainer's loss all-reduce
    (its two floats, as cpt.train.loop.gradients sends them, and the sync that reads them)."""
    def all_reduce():
        shared = torch.stack([torch.ones(()), torch.zeros(())])
        dist.all_reduce(shared)
        shared.tolist()

    pieces = {"clip": (lambda: torch.nn.utils.clip_grad_norm_(bare_model.parameters(), 1.0),
                       lambda: clip_grad_norm(trainer.model, 1.0).item()),
              "loss all-reduce": (lambda: None, all_reduce)}
    medians = {}
    for name, sides in pieces.items():
        times = ([], [])
        for _ in range(rounds):
            for side, fn in enumerate(sides):
                start = time.process_time()
                fn()
                times[side].append(time.process_time() - start)
        medians[name] = tuple(statistics.median(t) for t in times)
    return medians


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--vocab", type=int, default=2048)
    parser.add_argument("--seq-len", type=int, default=256)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=40, help="steps of each side, alternating")
    parser.add_argument("--log-interval", type=int, default=1, help="the trainer's metrics records (1: every step)")
    parser.add_argument("--loss-chunk-tokens", type=int, default=TrainConfig.loss_chunk_tokens,
                        help="train.loss_chunk_tokens (the seq len: one row per chunk, as before the key)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (CPU time is steadiest with 1)")
    ns = parser.parse_args()
    torch.set_num_threads(ns.threads)
    os.environ.update(RANK="0", WORLD_SIZE="1", LOCAL_RANK="0", MASTER_ADDR="127.0.0.1")
    with socket.socket() as probe:  # a free port: another benchmark may run beside this one
        probe.bind(("127.0.0.1", 0))
        os.environ.setdefault("MASTER_PORT", str(probe.getsockname()[1]))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        model_dir = make_model_dir(root / "model", dim=ns.dim, layers=ns.layers, heads=8, kv_heads=4,
                                   vocab=ns.vocab, max_positions=ns.seq_len)
        manifest = make_data(root / "data", model_dir, rows=ns.batch * ns.rounds, seq_len=ns.seq_len, vocab=ns.vocab)
        trainer = Trainer(root, model_dir, manifest, ns)
        model = Llama(hf.model_args(model_dir), ns.seq_len)
        model.load_state_dict(hf.load_hf_state_dict(model_dir))
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.95), weight_decay=0.1)
        tokens = torch.randint(0, ns.vocab, (ns.batch, ns.seq_len + 1))
        bare, ours = Parts(), Parts()
        for _ in range(ns.rounds):
            bare_step(model, optimizer, tokens, bare)
            trainer.step(ours)
        bare_gradients(model, tokens)  # gradients for the pieces timed alone below, on both sides
        gradients(trainer.model, trainer.optimizer, *next(trainer.loader), 1e-4, trainer.cfg, False, False)
        pieces = inside_gradients(trainer, model)
        trainer.close()
    bare, ours = bare.medians(), ours.medians()
    print(f"model dim {ns.dim} x {ns.layers} layers, vocab {ns.vocab}, batch {ns.batch} x {ns.seq_len} tokens, fp32, "
          f"{torch.get_num_threads()} threads, loss chunks of {ns.loss_chunk_tokens} tokens; "
          f"{ns.rounds - WARMUP} rounds, median CPU ms of the process per step")
    print(f"{'part':>26}  {'bare':>8}  {'trainer':>8}")
    rows = {name: (bare.get(name, 0), ours[name]) for name in ours}
    for name, (bare_s, ours_s) in rows.items():
        print(f"{name:>26}  {bare_s * 1e3:8.2f}  {ours_s * 1e3:8.2f}")
        if name == GRADIENTS:
            for piece, (bare_s, ours_s) in pieces.items():
                print(f"{'of which ' + piece:>26}  {bare_s * 1e3:8.2f}  {ours_s * 1e3:8.2f}")
    print(f"{'ratio':>26}  {ours['whole step'] / bare['whole step']:.3f}x (target <= 1.03x)")


if __name__ == "__main__":
    main()
