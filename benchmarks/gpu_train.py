"""A Llama-3 shape on one GPU through the trainer's own path, against a bare loop, the planner
and torchtitan's published anchor.

    python benchmarks/gpu_train.py [--shape auto] [--seq-len 8192] [--batch 1] [--steps 10] [--json F]

Trainer path: cpt.train.loop.build (attention check, TP/compile/AC/FSDP2 recipe with bf16
params and fp32 reduce), loop.gradients (the chunked loss, clipping, the loss all-reduce), AdamW and the
device sync of every step, in one nccl rank. Bare loop: the same model, tokens and optimizer
on the plain module, per-block compile and full activation checkpointing (8,192 tokens need
them) under bf16 autocast, no FSDP or DTensor. Both get the same random tokens (the loader's
cost is benchmarks/loader.py's). Targets: trainer / bare <= 1.03 in step time; the planner's
memory model within 15% of torch.cuda.max_memory_allocated.

`--shape auto` takes the largest of Llama-3.1-8B, 3.2-3B, 3.2-1B whose planner estimate fits
the GPU with headroom, and falls back to the next one if it runs out of memory anyway.
The JSON (record()) holds seconds_per_step and memory_per_gpu_gb with the shape and recipe they
were measured at: `python -m cpt.plan config.yaml --measured F` takes them where the config's
shape and recipe are the same (cpt/plan/measured.py). --metrics writes the trainer's steps as a
metrics.jsonl.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F

from cpt.atomic import write_json
from cpt.plan import measured
from cpt.train import attention, launch, loop
from cpt.train.config import TrainConfig
from cpt.train.metrics import peak_tflops
from cpt.train.model import Llama, ModelArgs
from cpt.train.parallelize import apply_ac, apply_compile

LLAMA3 = {"rms_norm_eps": 1e-5, "max_position_embeddings": 131072, "model_type": "llama",
          "rope_parameters": {"rope_type": "llama3", "rope_theta": 500000.0, "factor": 32.0,
                              "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                              "original_max_position_embeddings": 8192}}
SHAPES = {  # HF config.json fields of the published models
    "llama-3.1-8b": {**LLAMA3, "hidden_size": 4096, "intermediate_size": 14336, "num_hidden_layers": 32,
                     "num_attention_heads": 32, "num_key_value_heads": 8, "vocab_size": 128256,
                     "tie_word_embeddings": False, "rope_parameters": {**LLAMA3["rope_parameters"], "factor": 8.0}},
    "llama-3.2-3b": {**LLAMA3, "hidden_size": 3072, "intermediate_size": 8192, "num_hidden_layers": 28,
                     "num_attention_heads": 24, "num_key_value_heads": 8, "vocab_size": 128256,
                     "tie_word_embeddings": True},
    "llama-3.2-1b": {**LLAMA3, "hidden_size": 2048, "intermediate_size": 8192, "num_hidden_layers": 16,
                     "num_attention_heads": 32, "num_key_value_heads": 8, "vocab_size": 128256,
                     "tie_word_embeddings": True},
}
ANCHOR = ("torchtitan docs/performance.md, Table 1: Llama-3.1-8B on 8x H100 (96 GB, 500 W), FSDP + torch.compile, "
          "bf16, local batch 2, selective AC: 6,667 tokens/s/GPU; 33-39% MFU for 1D 8B without Float8")
ANCHOR_MFU = (0.33, 0.39)
HEADROOM = 0.85  # share of the GPU's memory a planner estimate may take
WARMUP = 3  # steps left out: compile and allocator warmup


def train_config(ns) -> TrainConfig:
    return TrainConfig.from_dict({
        "steps": ns.steps, "steps_per_segment": ns.steps, "local_batch": ns.batch, "compile": True,
        "activation_checkpointing": "full", "param_dtype": "bfloat16", "reduce_dtype": "float32",
        "attention": ns.attention, "optimizer": {"lr": 3e-5}})


def planner_memory(shape: dict, cfg: TrainConfig, seq_len: int) -> dict:
    """The planner's memory model (cpt.plan.memory) for this one-GPU run, GB per GPU."""
    from cpt.plan.memory import memory_per_gcd

    config = {"train": {"parallel": cfg.parallel, "local_batch": cfg.local_batch, "param_dtype": cfg.param_dtype,
                        "reduce_dtype": cfg.reduce_dtype, "activation_checkpointing": cfg.activation_checkpointing,
                        "activation_checkpointing_every": cfg.activation_checkpointing_every,
                        "loss_chunk_tokens": cfg.loss_chunk_tokens},
              "data": {"seq_len": seq_len}}
    return memory_per_gcd(config, shape)


def choose_shapes(requested: str, cfg: TrainConfig, seq_len: int, device: torch.device) -> list[str]:
    if requested != "auto":
        return [requested]
    total_gb = torch.cuda.get_device_properties(device).total_memory / 1e9
    fitting = [name for name, shape in SHAPES.items()
               if planner_memory(shape, cfg, seq_len)["total"] <= HEADROOM * total_gb]
    if not fitting:
        sys.exit(f"no shape fits {total_gb:.0f} GB by the planner's estimate at {seq_len} tokens x {cfg.local_batch}; "
                 "pass a shorter --seq-len")
    return fitting


def timed_steps(forward_backward, optimizer, steps: int, device: torch.device) -> list[float]:
    """Wall time of each full step (through the device sync), warmup steps left out."""
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        forward_backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        torch.cuda.synchronize(device)
        times.append(time.perf_counter() - start)
    return times[WARMUP:]


def trainer_run(args: ModelArgs, cfg: TrainConfig, mesh, device, tokens) -> list[float]:
    torch.manual_seed(0)
    model, optimizer = loop.build(args, cfg, tokens.shape[1] - 1, mesh, device)
    model.init_weights()

    def forward_backward():  # the loop's step up to the optimizer: loss, clipping, the loss all-reduce
        loop.gradients(model, optimizer, tokens[:, :-1], tokens[:, 1:], cfg.optimizer.lr, cfg, False, False)

    return timed_steps(forward_backward, optimizer, cfg.steps, device)


def bare_run(args: ModelArgs, cfg: TrainConfig, device, tokens, repeat_kv: bool) -> list[float]:
    torch.manual_seed(0)
    with torch.device("meta"):
        model = Llama(args, tokens.shape[1] - 1, repeat_kv=repeat_kv)
    model.to_empty(device=device)
    model.init_buffers()
    model.init_weights()
    apply_compile(model)
    apply_ac(model)
    opt = cfg.optimizer
    optimizer = torch.optim.AdamW(model.parameters(), lr=opt.lr, betas=tuple(opt.betas), eps=opt.eps,
                                  weight_decay=opt.weight_decay)

    def forward_backward():
        with torch.autocast("cuda", dtype=torch.bfloat16):
            logits = model(tokens[:, :-1])
        loss = F.cross_entropy(logits.flatten(0, 1).float(), tokens[:, 1:].flatten())
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), opt.grad_clip)
        loss.item()

    return timed_steps(forward_backward, optimizer, cfg.steps, device)


def measure(fn, device) -> tuple[list[float], float]:
    """Step times and peak allocated GB of one run, starting from an empty allocator."""
    gc.collect()
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats(device)
    times = fn()
    peak = torch.cuda.max_memory_allocated(device) / 1e9
    gc.collect()
    torch.cuda.empty_cache()
    return times, peak


def benchmark(name: str, ns, cfg: TrainConfig, mesh, device, save) -> dict:
    """Trainer, then bare loop; `save` gets the record after each half (the trainer's is the planner's input)."""
    shape = SHAPES[name]
    args = ModelArgs.from_hf_config(shape)
    tokens = torch.randint(0, args.vocab_size, (ns.batch, ns.seq_len + 1), device=device,
                           generator=torch.Generator(device=device).manual_seed(0))
    repeat_kv = attention.select(cfg.attention, args, ns.seq_len, 1, torch.bfloat16, device)
    print(f"{name}: {args.num_params() / 1e9:.2f}B parameters, {ns.batch} x {ns.seq_len} tokens per step, "
          f"{ns.steps} steps ({WARMUP} warmup)", flush=True)
    gpu = torch.cuda.get_device_name(device)
    facts = {"gpu": gpu, "peak": ns.peak_tflops or peak_tflops(gpu),
             "attention_used": "repeat_kv" if repeat_kv else "gqa"}
    trainer = measure(lambda: trainer_run(args, cfg, mesh, device, tokens), device)
    save(record(name, cfg, ns.seq_len, **facts, trainer=trainer, bare=None))
    result = record(name, cfg, ns.seq_len, **facts, trainer=trainer,
                    bare=measure(lambda: bare_run(args, cfg, device, tokens, repeat_kv), device))
    save(result)
    return result


def record(name: str, cfg: TrainConfig, seq_len: int, *, gpu: str, peak: float | None, attention_used: str,
           trainer: tuple[list[float], float], bare: tuple[list[float], float] | None) -> dict:
    """The result as the planner reads it (cpt.plan.measured: `python -m cpt.plan --measured`), from
    each side's timed steps and peak allocated GB (bare None: only the trainer's half has run)."""
    shape = SHAPES[name]
    args = ModelArgs.from_hf_config(shape)
    tokens_per_step = cfg.local_batch * seq_len
    flops_per_token = args.flops_per_token(seq_len)
    planned = planner_memory(shape, cfg, seq_len)

    def side(times, peak_gb):
        step = statistics.median(times)
        rate = tokens_per_step / step
        return {"step_time_s": step, "step_time_min_s": min(times), "tokens_per_s_per_gpu": rate,
                "mfu": rate * flops_per_token / (peak * 1e12) if peak else None, "max_memory_allocated_gb": peak_gb}

    t, b = side(*trainer), side(*bare) if bare else None
    return {"format": measured.FORMAT, "gpu": gpu, "peak_bf16_tflops": peak, "torch": torch.__version__,
            "shape": name, "hf_config": shape, "params": args.num_params(), "seq_len": seq_len,
            "local_batch": cfg.local_batch, "parallel": cfg.parallel,
            "train": {"param_dtype": cfg.param_dtype, "reduce_dtype": cfg.reduce_dtype, "compile": cfg.compile,
                      "activation_checkpointing": cfg.activation_checkpointing, "attention": attention_used},
            "trainer": t, "bare": b, "ratio": t["step_time_s"] / b["step_time_s"] if b else None,
            "planner_memory_gb": planned,
            "planner_error": planned["total"] / t["max_memory_allocated_gb"] - 1,
            "seconds_per_step": t["step_time_s"], "memory_per_gpu_gb": t["max_memory_allocated_gb"],
            "anchor": ANCHOR, "trainer_times_s": trainer[0], "bare_times_s": bare[0] if bare else None}


def report(r: dict) -> None:
    t, b = r["trainer"], r["bare"]
    print(f"\n{r['shape']} on {r['gpu']} (torch {r['torch']}), {r['local_batch']} x {r['seq_len']} tokens, "
          f"bf16 params / fp32 reduce, per-block compile, full AC, attention {r['train']['attention']}")
    print(f"{'':>10}  {'s/step':>8}  {'tokens/s/GPU':>12}  {'MFU':>6}  {'peak GB':>8}")
    for name, s in (("trainer", t), ("bare", b)):
        mfu = f"{s['mfu']:6.1%}" if s["mfu"] is not None else "   n/a"
        print(f"{name:>10}  {s['step_time_s']:8.3f}  {s['tokens_per_s_per_gpu']:12,.0f}  {mfu}  "
              f"{s['max_memory_allocated_gb']:8.1f}")
    print(f"{'ratio':>10}  {r['ratio']:8.3f}x (trainer / bare step time; target <= 1.03x)")
    print(f"planner memory model: {r['planner_memory_gb']['total']:.1f} GB vs measured "
          f"{t['max_memory_allocated_gb']:.1f} GB ({r['planner_error']:+.1%}; target within 15%)")
    print(f"anchor: {r['anchor']}")
    if t["mfu"] is None:
        print(f"MFU: no peak bf16 figure for {r['gpu']!r}; pass --peak-tflops")
    else:
        low, high = ANCHOR_MFU
        where = "below" if t["mfu"] < low else "above" if t["mfu"] > high else "within"
        print(f"measured trainer MFU {t['mfu']:.1%} is {where} the anchor's {low:.0%}-{high:.0%} "
              f"(a {r['shape']} shape on one GPU, vs 8B on 8 GPUs with communication)")


def save(result: dict, ns) -> None:
    """The record so far, as soon as a half is measured: a timeout later keeps what was made."""
    if ns.json:
        write_json(ns.json, result)
        half = "both halves" if result["bare"] else "trainer half"
        print(f"wrote {ns.json} ({half}): python -m cpt.plan config.yaml --measured {ns.json}", flush=True)
    if ns.metrics:
        ns.metrics.write_text("".join(json.dumps({"step": i + 1 + WARMUP, "step_time_s": s,
                                                  "memory_peak_gb": result["memory_per_gpu_gb"]}) + "\n"
                                      for i, s in enumerate(result["trainer_times_s"])))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shape", default="auto", choices=["auto", *SHAPES])
    parser.add_argument("--seq-len", type=int, default=8192)
    parser.add_argument("--batch", type=int, default=1, help="sequences per step (the local batch)")
    parser.add_argument("--steps", type=int, default=10, help=f"steps per side, the first {WARMUP} untimed")
    parser.add_argument("--attention", default="auto", choices=["auto", "gqa", "repeat_kv"])
    parser.add_argument("--peak-tflops", type=float, help="peak dense bf16 TFLOP/s of a GPU not in the table")
    parser.add_argument("--json", type=Path, help="write the results here (what the planner takes)")
    parser.add_argument("--metrics", type=Path, help="write the trainer's steps as a metrics.jsonl")
    return parser.parse_args(argv)


def main() -> int:
    ns = parse_args()
    if not torch.cuda.is_available():
        print("no GPU visible (torch.cuda.is_available() is False): this benchmark needs one; "
              "benchmarks/train_step.py compares trainer and bare loop on CPU", file=sys.stderr)
        return 2
    if not torch.cuda.is_bf16_supported():
        print(f"{torch.cuda.get_device_name()} has no bf16: the production recipe cannot run here", file=sys.stderr)
        return 2
    device = launch.init_distributed(launch.detect())
    cfg = train_config(ns)
    mesh = launch.build_mesh(cfg.parallel, device)
    try:
        for name in choose_shapes(ns.shape, cfg, ns.seq_len, device):
            try:
                result = benchmark(name, ns, cfg, mesh, device, lambda r: save(r, ns))
                break
            except torch.cuda.OutOfMemoryError as err:
                print(f"{name} does not fit: {str(err).splitlines()[0]}; trying a smaller shape", flush=True)
                gc.collect()
                torch.cuda.empty_cache()
        else:
            print("no shape fits this GPU; pass a shorter --seq-len", file=sys.stderr)
            return 1
        report(result)
    finally:
        dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
