"""Per-step metrics: one JSON object per logged step (metrics.jsonl) and a log line.

The report stage plots metrics.jsonl; after a resume the lines past the resumed
step are dropped so a step never appears twice. Rank 0 also hands each record to
the live sinks (cpt.live.sinks: TensorBoard, W&B).
"""

from __future__ import annotations

import json
import logging
import resource
import time
from pathlib import Path

import torch

from cpt.progress import hms

log = logging.getLogger("cpt")

# Dense bf16 peak per device (vendor data sheets, no sparsity; one MI250X GCD is one device), TFLOP/s, by the
# exact name torch.cuda.get_device_name gives: a part of the same family ("H100 PCIe", "H100 NVL") has its own
# peak, so a name not listed gives no MFU rather than another part's. The one table of the trainer's MFU and
# benchmarks/gpu_train.py.
PEAK_BF16_TFLOPS = {
    "NVIDIA H100 80GB HBM3": 989.0, "NVIDIA H100 PCIe": 756.0, "NVIDIA H100 NVL": 835.0,
    "NVIDIA H200": 989.0, "NVIDIA H200 NVL": 835.0, "NVIDIA GH200 480GB": 989.0,
    "NVIDIA A100-SXM4-80GB": 312.0, "NVIDIA A100-SXM4-40GB": 312.0, "NVIDIA A100 80GB PCIe": 312.0,
    "NVIDIA A100-PCIE-40GB": 312.0,
    # ROCm may name Frontier's GCD by the family ("MI250X/MI250"); Frontier has MI250X only.
    "AMD Instinct MI250X": 191.5, "AMD Instinct MI250X/MI250": 191.5, "AMD Instinct MI250": 181.0,
    "AMD Instinct MI300X": 1307.4, "AMD Instinct MI300A": 980.6,
}


def peak_tflops(name: str) -> float | None:
    """The dense bf16 peak of a device by its exact name; None when the table does not list it."""
    return PEAK_BF16_TFLOPS.get(name.strip())


def peak_flops(device: torch.device) -> float | None:
    """The device's bf16 peak in FLOP/s, or None where no figure is known (CPU, an unlisted GPU): MFU is null."""
    if device.type != "cuda":
        return None
    peak = peak_tflops(torch.cuda.get_device_name(device))
    return peak * 1e12 if peak else None


def memory_peak_gb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 1e9
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6  # KiB on Linux


class Metrics:
    """Accumulates step timings between log points; only rank 0 writes."""

    def __init__(self, path: Path, *, write: bool, device: torch.device, n_devices: int, flops_per_token: float,
                 tokens_per_step: int, end_step: int, total_steps: int, log_interval: int, sinks=None):
        self.path, self.write, self.device, self.n_devices = path, write, device, n_devices
        self.flops_per_token, self.tokens_per_step = flops_per_token, tokens_per_step
        self.end_step, self.total_steps, self.log_interval = end_step, total_steps, log_interval
        self.peak = peak_flops(device)
        self.sinks = sinks if write else None  # cpt.live.sinks.Sinks
        self._steps, self._time, self._wait = 0, 0.0, 0.0
        self._start = time.monotonic()
        self._start_step: int | None = None

    def step(self, step: int, *, loss: float, lr: float, grad_norm: float, step_time: float, data_wait: float,
             tokens_seen: int, flush: bool = False) -> None:
        """Record `step`; a record is written every log_interval steps, at the segment's end, and when
        `flush` (a time-limit stop: the steps since the last record would otherwise be lost)."""
        if self._start_step is None:
            self._start_step = step - 1
            if self.sinks:
                self.sinks.start(resumed_step=step - 1, resumed_tokens=tokens_seen - self.tokens_per_step)
        self._steps, self._time, self._wait = self._steps + 1, self._time + step_time, self._wait + data_wait
        if step % self.log_interval and step != self.end_step and not flush:
            return
        step_time, data_wait = self._time / self._steps, self._wait / self._steps
        self._steps, self._time, self._wait = 0, 0.0, 0.0
        tokens_per_s = self.tokens_per_step / step_time
        per_device = tokens_per_s / self.n_devices
        record = {
            "step": step, "loss": loss, "lr": lr, "grad_norm": grad_norm,
            "step_time_s": step_time, "data_wait_s": data_wait,
            "tokens_per_s": tokens_per_s, "tokens_per_s_per_device": per_device,
            "mfu": per_device * self.flops_per_token / self.peak if self.peak else None,
            "tokens_seen": tokens_seen, "memory_peak_gb": memory_peak_gb(self.device),
        }
        if not self.write:
            return
        with self.path.open("a") as f:
            f.write(json.dumps(record) + "\n")
        log.info(self.line(record))
        if self.sinks:
            self.sinks.write(record)

    def close(self) -> None:
        if self.sinks:
            self.sinks.close()

    def line(self, r: dict) -> str:
        rate = (r["step"] - self._start_step) / max(time.monotonic() - self._start, 1e-9)

        def eta(target: int) -> str:
            return hms((target - r["step"]) / rate) if rate > 0 else "?"
        mfu = f" | mfu {100 * r['mfu']:.1f}%" if r["mfu"] is not None else ""
        return (f"step {r['step']}/{self.total_steps} | loss {r['loss']:.4f} | lr {r['lr']:.3g} | "
                f"gnorm {r['grad_norm']:.3f} | {r['tokens_per_s']:,.0f} tok/s "
                f"({r['tokens_per_s_per_device']:,.0f}/device){mfu} | step {r['step_time_s']:.3f}s "
                f"(data {r['data_wait_s']:.3f}s) | mem {r['memory_peak_gb']:.1f} GB | "
                f"ETA segment {eta(self.end_step)}, run {eta(self.total_steps)}")
