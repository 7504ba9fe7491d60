"""Checkpoint save and load time (DCP dir + marker, cpt.train.checkpoint) vs torch.save /
torch.load of the same model and AdamW state, single process, same disk.
Target: each ratio <= 1.5.

    python benchmarks/checkpoint_io.py [--dim 1024 --layers 8 --vocab 32000 --repeats 3]
"""

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from cpt.train import checkpoint
from cpt.train.model import Llama, ModelArgs


def model_and_optimizer(ns):
    args = ModelArgs(dim=ns.dim, n_layers=ns.layers, n_heads=ns.dim // 64, n_kv_heads=ns.dim // 128, head_dim=64,
                     ffn_dim=ns.dim * 7 // 2, vocab_size=ns.vocab, norm_eps=1e-5, rope_theta=500000.0,
                     max_seq_len=8192)
    model = Llama(args, seq_len=16)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    tokens = torch.randint(0, ns.vocab, (1, 17))
    F.cross_entropy(model(tokens[:, :-1]).flatten(0, 1), tokens[:, 1:].flatten()).backward()
    optimizer.step()  # materializes exp_avg / exp_avg_sq, as in a real checkpoint
    return model, optimizer


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dim", type=int, default=1024)
    parser.add_argument("--layers", type=int, default=8)
    parser.add_argument("--vocab", type=int, default=32000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--dir", type=Path, default=None, help="where to write (default: a temp dir)")
    ns = parser.parse_args()
    model, optimizer = model_and_optimizer(ns)
    gb = 3 * sum(p.numel() * p.element_size() for p in model.parameters()) / 1e9
    with tempfile.TemporaryDirectory(dir=ns.dir) as tmp:
        root = Path(tmp)
        results = {"dcp save": [], "torch.save": [], "dcp load": [], "torch.load": []}
        for i in range(ns.repeats):
            shutil.rmtree(root / "dcp", ignore_errors=True)
            results["dcp save"].append(timed(lambda i=i: checkpoint.save(root / "dcp", model, optimizer, {"step": i})))
            results["torch.save"].append(timed(lambda: torch.save(
                {"model": model.state_dict(), "optim": optimizer.state_dict()}, root / "plain.pt")))
            results["dcp load"].append(timed(lambda: checkpoint.load(root / "dcp", model, optimizer)))

            def plain_load():
                state = torch.load(root / "plain.pt", weights_only=True)
                model.load_state_dict(state["model"])
                optimizer.load_state_dict(state["optim"])
            results["torch.load"].append(timed(plain_load))
    best = {k: min(v) for k, v in results.items()}
    print(f"model + AdamW state: {gb:.2f} GB fp32 (dim {ns.dim}, {ns.layers} layers, vocab {ns.vocab}); "
          f"best of {ns.repeats}")
    for name, seconds in best.items():
        print(f"{name:>12}: {seconds:7.2f} s  ({gb / seconds:5.2f} GB/s)")
    print(f"{'save ratio':>12}: {best['dcp save'] / best['torch.save']:7.2f}x (target <= 1.5x)")
    print(f"{'load ratio':>12}: {best['dcp load'] / best['torch.load']:7.2f}x (target <= 1.5x)")


if __name__ == "__main__":
    main()
