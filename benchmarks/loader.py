"""Loader throughput (rows/s delivered to the trainer, int64 tensors, prefetch on) vs the
rows one DP rank consumes per second in the reference run. Target: >= 100x.

The consumption side is local_batch rows (config.yaml: 21) per step of --step-time
seconds (config.yaml's estimate: ~23 s on Frontier).

    python benchmarks/loader.py [--seq-len 8192 --rows 4096 --local-batch 21 --step-time 23]
"""

import argparse
import tempfile
import time
from pathlib import Path

from cpt.atomic import sha256_file
from cpt.train.data import Loader, RowReader, open_shards
from cpt.demo.synthetic import make_data, make_model_dir


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seq-len", type=int, default=8192)
    parser.add_argument("--rows", type=int, default=4096)
    parser.add_argument("--local-batch", type=int, default=21)
    parser.add_argument("--dp-size", type=int, default=1)
    parser.add_argument("--step-time", type=float, default=23.0, help="seconds per training step")
    parser.add_argument("--batches", type=int, default=150)
    ns = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        model_dir = make_model_dir(root / "model", vocab=128256 // 8, dim=16, layers=1, heads=2, kv_heads=1)
        manifest = make_data(root / "data", model_dir, rows=ns.rows, seq_len=ns.seq_len, shards=4,
                             vocab=128256 // 8)
        shards = open_shards(manifest, seq_len=ns.seq_len, tokenizer_sha256=sha256_file(model_dir / "tokenizer.json"))
        loader = Loader(RowReader(shards), local_batch=ns.local_batch, dp_rank=5, dp_size=ns.dp_size, position=0)
        try:
            next(loader)
            start = time.perf_counter()
            for _ in range(ns.batches):
                next(loader)
            elapsed = time.perf_counter() - start
        finally:
            loader.close()
    rate = ns.batches * ns.local_batch / elapsed
    need = ns.local_batch / ns.step_time
    print(f"rows of {ns.seq_len + 1} tokens, local batch {ns.local_batch}, {ns.batches} batches")
    print(f"{'loader':>10}: {rate:10,.0f} rows/s ({rate * (ns.seq_len + 1) / 1e6:,.1f} M tokens/s)")
    print(f"{'consumed':>10}: {need:10,.2f} rows/s ({ns.local_batch} rows per {ns.step_time:g} s step)")
    print(f"{'ratio':>10}: {rate / need:10,.0f}x (target >= 100x)")


if __name__ == "__main__":
    main()
