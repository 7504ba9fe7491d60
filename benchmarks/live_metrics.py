"""Cost of the live sinks on rank 0: seconds per metrics record with TensorBoard (and W&B
offline, --wandb) vs metrics.jsonl alone, measured in the same run, and that cost as a
share of the reference run's logging interval (log_interval steps of --step-time seconds).

    python benchmarks/live_metrics.py [--records 200 --wandb --step-time 23 --log-interval 10]
"""

import argparse
import tempfile
import time
from pathlib import Path

import torch

from cpt.train.metrics import Metrics
from cpt.live.sinks import Sinks


def seconds_per_record(train_dir: Path, records: int, live: dict | None) -> float:
    train_dir.mkdir(parents=True)
    sinks = Sinks(train_dir, live, {"benchmark": True}) if live is not None else None
    metrics = Metrics(train_dir / "metrics.jsonl", write=True, device=torch.device("cpu"), n_devices=512,
                      flops_per_token=1.0, tokens_per_step=11_010_048, end_step=records, total_steps=records,
                      log_interval=1, sinks=sinks)
    metrics.step(1, loss=2.0, lr=0.0, grad_norm=1.0, step_time=1.0, data_wait=0.0, tokens_seen=11_010_048)  # opens
    start = time.perf_counter()
    for step in range(2, records + 1):
        metrics.step(step, loss=2.0 / step, lr=1e-5, grad_norm=1.0, step_time=23.0, data_wait=0.01,
                     tokens_seen=step * 11_010_048)
    elapsed = (time.perf_counter() - start) / (records - 1)
    metrics.close()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=200)
    parser.add_argument("--wandb", action="store_true", help="also a W&B run in offline mode")
    parser.add_argument("--step-time", type=float, default=23.0)
    parser.add_argument("--log-interval", type=int, default=10)
    ns = parser.parse_args()
    live = {"wandb": {"project": "benchmark", "mode": "offline"}} if ns.wandb else {}
    with tempfile.TemporaryDirectory() as tmp:
        base = seconds_per_record(Path(tmp) / "jsonl", ns.records, None)
        sinks = seconds_per_record(Path(tmp) / "live", ns.records, live)
    interval = ns.step_time * ns.log_interval
    print(f"metrics.jsonl alone:      {1e3 * base:8.3f} ms/record")
    print(f"with {'TensorBoard + W&B' if ns.wandb else 'TensorBoard'}: {1e3 * sinks:8.3f} ms/record "
          f"({sinks / base:.1f}x jsonl alone)")
    print(f"added per log interval ({ns.log_interval} steps x {ns.step_time} s): "
          f"{100 * (sinks - base) / interval:.5f}% of training time")


if __name__ == "__main__":
    main()
