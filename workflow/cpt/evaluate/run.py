"""Evaluate one model dir on one configured task with lm-eval; write one results JSON.

    python -m cpt.evaluate.run --model-dir M --step S --name ARC-C --task arc_challenge \
        --num-fewshot 0 --metric acc --batch-size 16 --dtype bfloat16 --out R.json

Runs offline (compute nodes have no internet): datasets come from the HF cache
that `cpt.evaluate.prefetch` filled on the login node. A task that fails still
writes a record with status "failed" and the error, and exits 0, so one broken
task never stops the others; the report marks it.
"""

from __future__ import annotations

import argparse
import datetime
import logging
import os
import sys
import time
import traceback
from pathlib import Path

from cpt import devices
from cpt.atomic import write_json
from cpt.evaluate.record import task_record
from cpt.progress import bars_as_log_lines

log = logging.getLogger("cpt.evaluate")
DEMO_TASKS = Path(__file__).parent / "demo_tasks"
MODEL_FILES = ("config.json", "tokenizer.json", "tokenizer_config.json")


def check_model_dir(model_dir: Path) -> None:
    """Fail early, naming the missing file, instead of deep inside transformers."""
    missing = [f for f in MODEL_FILES if not (model_dir / f).is_file()]
    if not any(model_dir.glob("*.safetensors")):
        missing.append("*.safetensors")
    if missing:
        raise FileNotFoundError(
            f"model dir {model_dir} lacks {', '.join(missing)}: step 0 needs a complete "
            "model.base_dir (HF format), later steps a finished `cpt.convert.export`")


def resolve_device(device: str) -> str:
    """auto: the GPU; the CPU only outside a job given GPUs (cpt.devices)."""
    return devices.cuda_or_cpu("cpt.evaluate.run --device auto") if device == "auto" else device


def resolve_dtype(dtype: str, device: str) -> str:
    """The config's dtype on an accelerator; float32 on CPU, where bf16 is slow and inexact."""
    if device == "cpu" and dtype != "float32":
        log.info("running on CPU: using float32 instead of eval.dtype=%s", dtype)
        return "float32"
    return dtype


def task_manager(include_path: list[str] = ()):
    """lm-eval's tasks plus the shipped demo tasks and the config's eval.include_path dirs.

    All of them are found the same way, through lm-eval's include_path.
    """
    from lm_eval.tasks import TaskManager

    return TaskManager(include_path=[str(DEMO_TASKS), *include_path])


def evaluate(model_dir: Path, task: str, num_fewshot: int, batch_size: int, dtype: str,
             device: str, limit: float | None, include_path: list[str] = ()) -> dict:
    """lm-eval's own results dict for one task on one HF model dir."""
    import lm_eval

    return lm_eval.simple_evaluate(
        model="hf", model_args={"pretrained": str(model_dir), "dtype": dtype},
        tasks=[task], num_fewshot=num_fewshot, batch_size=batch_size, device=device,
        limit=limit, log_samples=False, task_manager=task_manager(include_path))


def explain(err: Exception) -> str:
    """The error as one line, with the fix when it is the usual one (data not prefetched)."""
    text = f"{type(err).__name__}: {err}"
    if isinstance(err, ConnectionError):
        text += ("; eval jobs run offline: fetch the datasets on the login node first "
                 "(rule eval_prefetch) with the same HF_HOME the compute nodes see")
    return text


def run(args: argparse.Namespace) -> dict:
    """The record for one (step, task): lm-eval's numbers plus what produced them."""
    import lm_eval
    import torch
    import transformers

    model_dir = Path(args.model_dir)
    device = resolve_device(args.device)
    dtype = resolve_dtype(args.dtype, device)
    record = {
        "status": "ok", "step": args.step, "name": args.name, "task": args.task,
        "metric": args.metric, "num_fewshot": args.num_fewshot, "limit": args.limit,
        "model_dir": str(model_dir), "device": device, "dtype": dtype, "batch_size": args.batch_size,
        "lm_eval_version": lm_eval.__version__, "transformers_version": transformers.__version__,
        "torch_version": torch.__version__,
        "started_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }
    start = time.monotonic()
    try:
        check_model_dir(model_dir)
        results = evaluate(model_dir, args.task, args.num_fewshot, args.batch_size, dtype, device,
                           args.limit, args.include_path)
        record.update(task_record(results, args.task, args.metric))
    except Exception as err:  # noqa: BLE001 -- one failed task must not stop the others: record it
        log.error("task %s on %s failed:\n%s", args.task, model_dir, traceback.format_exc())
        record.update(status="failed", error=explain(err))
    record["elapsed_s"] = round(time.monotonic() - start, 3)
    return record


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", required=True, help="HF model dir (base model or export)")
    parser.add_argument("--step", type=int, required=True)
    parser.add_argument("--name", required=True, help="short name shown in tables (eval.tasks[].name)")
    parser.add_argument("--task", required=True, help="lm-eval task or group name")
    parser.add_argument("--num-fewshot", type=int, default=0)
    parser.add_argument("--metric", default="acc")
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--dtype", default="bfloat16", help="on an accelerator; CPU uses float32")
    parser.add_argument("--device", default="auto",
                        help="auto: cuda (ROCm too) if present, else cpu (an error in a Slurm job given GPUs)")
    parser.add_argument("--limit", type=float, default=None,
                        help="samples per task (>= 1) or fraction (< 1); for tests and the demo")
    parser.add_argument("--include-path", action="append", default=[],
                        help="extra dir of lm-eval task YAMLs (repeat; eval.include_path)")
    parser.add_argument("--out", required=True, help="results JSON, written atomically")
    args = parser.parse_args(argv)
    if args.limit is not None and args.limit >= 1:
        args.limit = int(args.limit)
    return args


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    # Compute nodes have no internet: never let a job hang on the hub.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    args = parse_args(argv)
    record = run(args)
    write_json(args.out, record)
    log.info("%s %s step %d: %s", args.name, args.metric, args.step,
             record.get("value", record.get("error")))
    return 0


if __name__ == "__main__":
    bars_as_log_lines()  # lm-eval, transformers and datasets draw tqdm bars into the job log
    sys.exit(main())
