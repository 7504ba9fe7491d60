"""One training segment: resume, train to the segment's last step, save, exit 0.

Every rank runs this. A SIGUSR1/SIGTERM (Slurm's pre-timeout warning) on any
rank makes all ranks log the steps since the last metrics record, save at the
next step boundary and return normally, so the job ends with exit code 0 and
the chain's next job resumes from there (cpt.chain: a continuation).
Resume takes the newest checkpoint of the run's lineage (cpt.rundir.lineage),
and the optimizer's hyperparameters come from the config, not the checkpoint.
Rank 0 holds the train dir's lock (cpt.rundir.trainer_lock) from before the dir is
read until the segment ends: a second trainer of the same dir stops at start.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path

import torch
import torch.distributed as dist
from torch.distributed.tensor import DTensor
from torch.distributed.tensor.parallel import loss_parallel

from cpt.atomic import sha256_file
from cpt.live.sinks import Sinks
from cpt.rundir import lineage, trainer_lock
from cpt.rundir.metrics import truncate_after
from cpt.rundir.paths import METRICS
from cpt.train import attention, checkpoint, hf, launch, retention
from cpt.train.config import TrainConfig
from cpt.train.data import Loader, RowReader, open_shards
from cpt.train.loss import chunked_cross_entropy
from cpt.train.metrics import Metrics
from cpt.train.model import Llama
from cpt.train.parallelize import DTYPES, parallelize
from cpt.train.schedule import lr_at
from cpt.train.stop import StopRequest

log = logging.getLogger("cpt")


class NonFiniteLoss(RuntimeError):
    """Training diverged; the last good checkpoint is kept untouched."""


@dataclass(frozen=True)
class Paths:
    manifest: Path
    base_dir: Path
    train_dir: Path  # checkpoints/ and metrics.jsonl
    live: dict = field(default_factory=dict)  # config `metrics:` (W&B) and the eval results dir: cpt.live.sinks

    @property
    def checkpoints(self) -> Path:
        return self.train_dir / "checkpoints"


def check_fits(args, cfg: TrainConfig, seq_len: int) -> None:
    """Refuse a context the model was not built for, or sizes the TP plan cannot split
    evenly, before any collective starts."""
    if seq_len > args.max_seq_len:
        raise launch.LaunchError(f"data.seq_len={seq_len} exceeds the model's max_position_embeddings="
                                 f"{args.max_seq_len} (config.json); shorten data.seq_len")
    tp = cfg.parallel["tp"]
    for what, value in (("num_attention_heads", args.n_heads), ("num_key_value_heads", args.n_kv_heads),
                        ("data.seq_len (sequence parallel)", seq_len)):
        if value % tp:
            raise launch.LaunchError(f"train.parallel.tp={tp} does not divide {what}={value}; pick a tp that does")


def build(args, cfg: TrainConfig, seq_len: int, mesh, device: torch.device, materialize=None):
    """Model (materialized on `device`, weights uninitialized) and its optimizer.

    Built on meta and parallelized outside `materialize`, then materialized inside it: the memory
    trace passes a FakeTensorMode (fully_shard cannot run under one: DeviceMesh calls `nonzero`)."""
    materialize = materialize or contextlib.nullcontext()
    repeat_kv = attention.select(cfg.attention, args, seq_len, mesh["tp"].size(), DTYPES[cfg.param_dtype], device)
    with torch.device("meta"):
        model = Llama(args, seq_len, repeat_kv=repeat_kv)
    parallelize(model, mesh, cfg)
    with materialize:
        model.to_empty(device=device)
        model.init_buffers()
        opt = cfg.optimizer
        optimizer = torch.optim.AdamW(model.parameters(), lr=opt.lr, betas=tuple(opt.betas), eps=opt.eps,
                                      weight_decay=opt.weight_decay)
    return model, optimizer


def data_loader(shards, cfg: TrainConfig, mesh, position: int) -> Loader:
    """This rank's loader: its DP rank's slice of each global batch from row `position` (TP ranks share rows)."""
    dp_rank = mesh["dp_replicate"].get_local_rank() * mesh["dp_shard"].size() + mesh["dp_shard"].get_local_rank()
    dp_size = mesh["dp_replicate"].size() * mesh["dp_shard"].size()
    return Loader(RowReader(shards), local_batch=cfg.local_batch, dp_rank=dp_rank, dp_size=dp_size, position=position)


def clip_grad_norm(model: torch.nn.Module, max_norm: float) -> torch.Tensor:
    """Global grad norm over every mesh dim (DTensor norms are partial until reduced)."""
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    norm = torch.nn.utils.get_total_norm(grads)
    if isinstance(norm, DTensor):
        norm = norm.full_tensor()
    torch.nn.utils.clip_grads_with_norm_(model.parameters(), max_norm, norm)
    return norm


def train_step(model, inputs, targets, tp: bool, micro_batch: int | None = None,
               chunk_tokens: int | None = None) -> torch.Tensor:
    """Forward and backward in passes of `micro_batch` rows (default: all), gradients accumulating,
    the loss taken `chunk_tokens` tokens at a time (default: a pass in one chunk); returns this
    rank's mean token loss (fp32). Each pass's loss is scaled by its share of the batch's tokens,
    so loss and gradients equal the one-pass, one-chunk step's up to float rounding."""
    micro, tokens, total = micro_batch or len(inputs), targets.numel(), torch.zeros((), device=inputs.device)
    with loss_parallel() if tp else contextlib.nullcontext():
        for rows, labels in zip(inputs.split(micro), targets.split(micro)):
            head = partial(chunked_cross_entropy, targets=labels, chunk_tokens=chunk_tokens)
            loss = model(rows, head=head) / tokens
            loss.backward()
            total += (loss.full_tensor() if isinstance(loss, DTensor) else loss).detach()
    return total


def gradients(model, optimizer, inputs, targets, lr: float, cfg: TrainConfig, tp: bool,
              stop_requested: bool) -> tuple[float, float, bool]:
    """A step up to the optimizer: the LR set, forward and backward, gradients clipped; returns the
    loss averaged over ranks, the grad norm, and whether any rank was asked to stop."""
    for group in optimizer.param_groups:
        group["lr"] = lr
    loss = train_step(model, inputs, targets, tp, cfg.micro_batch, cfg.loss_chunk_tokens)
    grad_norm = clip_grad_norm(model, cfg.optimizer.grad_clip)
    # One small all-reduce carries the loss for logging and any rank's stop request.
    shared = torch.stack([loss.detach().float(), torch.tensor(float(stop_requested), device=loss.device)])
    dist.all_reduce(shared)
    loss_sum, stops = shared.tolist()
    return loss_sum / dist.get_world_size(), grad_norm.item(), stops > 0


def run(cfg: TrainConfig, paths: Paths, *, seq_len: int, until_step: int, digests: dict | None = None,
        stop: StopRequest | None = None) -> int:
    """Train from the run's newest valid checkpoint to `until_step`; returns the step reached.
    `digests` (training, config: cpt.digest) go into every checkpoint's complete.json."""
    ranks = launch.detect()
    launch.check_mesh(cfg.parallel, ranks.world_size)
    args = hf.model_args(paths.base_dir)
    check_fits(args, cfg, seq_len)
    shards = open_shards(paths.manifest, seq_len=seq_len,
                         tokenizer_sha256=sha256_file(paths.base_dir / "tokenizer.json"))
    stop = stop or StopRequest()
    device = launch.init_distributed(ranks)
    try:
        # One writer: before anything in the train dir is read or written, all ranks stop if it has one.
        with one_writer(paths.train_dir):
            resume = resume_point(paths, until_step, rank0=ranks.rank == 0)
            return _train(cfg, paths, args, shards, resume, stop, device, seq_len, until_step,
                          digests or {"training": None, "config": None})
    finally:
        dist.destroy_process_group()


@contextlib.contextmanager
def one_writer(train_dir: Path):
    """The train dir's lock (cpt.rundir.trainer_lock) held by rank 0; every rank raises
    TrainDirBusy when rank 0 cannot take it."""
    with contextlib.ExitStack() as stack:
        refused = [None]
        if dist.get_rank() == 0:
            try:
                stack.enter_context(trainer_lock.held(train_dir))
            except trainer_lock.TrainDirBusy as err:
                refused = [str(err)]
        dist.broadcast_object_list(refused, src=0)
        if refused[0]:
            raise trainer_lock.TrainDirBusy(refused[0])
        yield


def resume_point(paths: Paths, until_step: int, rank0: bool) -> Path:
    """The checkpoint this segment starts from (the newest of the lineage up to `until_step`)."""
    if rank0:
        retention.recover(paths.checkpoints)   # a weights-only rewrite a crash interrupted
    dist.barrier()
    resume = lineage.resume_point(paths.checkpoints, lineage.read_history(paths.train_dir), at_most=until_step)
    if resume is None:
        raise checkpoint.CheckpointError(f"{paths.checkpoints}: no complete checkpoint of this run up to step "
                                         f"{until_step} to start from; step 0 comes from `python -m "
                                         "cpt.convert.import_base` (the train_import rule)")
    retention.check_resume(resume)
    return resume


def apply_optimizer_settings(optimizer, opt) -> None:
    """Config wins over the checkpoint: loading the optimizer state brings back the saved
    betas, eps and weight decay, which would silently override an edit of config.yaml."""
    for group in optimizer.param_groups:
        group.update(betas=tuple(opt.betas), eps=opt.eps, weight_decay=opt.weight_decay)


def _train(cfg, paths, args, shards, resume, stop, device, seq_len, until_step, digests) -> int:
    mesh = launch.build_mesh(cfg.parallel, device)
    torch.manual_seed(cfg.seed)
    model, optimizer = build(args, cfg, seq_len, mesh, device)
    record = checkpoint.load(resume, model, optimizer)
    apply_optimizer_settings(optimizer, cfg.optimizer)
    ancestry = lineage.child_record(record, digests)
    step, position = record["step"], record.get("rows_consumed", 0)
    rank0 = dist.get_rank() == 0
    metrics_path = paths.train_dir / METRICS
    if rank0:
        truncate_after(metrics_path, step)
        log.info("resumed from %s (step %d, row %d); training to step %d", resume, step, position, until_step)
    loader = data_loader(shards, cfg, mesh, position)
    metrics = Metrics(metrics_path, write=rank0, device=device, n_devices=dist.get_world_size(),
                      flops_per_token=args.flops_per_token(seq_len), tokens_per_step=loader.global_batch * seq_len,
                      end_step=until_step, total_steps=cfg.steps, log_interval=cfg.log_interval,
                      sinks=Sinks(paths.train_dir, paths.live, {"train": asdict(cfg)}) if rank0 else None)
    tp = mesh["tp"].size() > 1
    try:
        while step < until_step:
            start = time.perf_counter()
            inputs, targets = next(loader)
            inputs, targets = inputs.to(device), targets.to(device)
            data_wait = time.perf_counter() - start
            step += 1
            lr = lr_at(step, peak=cfg.optimizer.lr, warmup_steps=cfg.schedule.warmup_steps,
                       decay_end_step=cfg.schedule.decay_end_step)
            mean_loss, grad_norm, stopping = gradients(model, optimizer, inputs, targets, lr, cfg, tp, stop.requested)
            if not (math.isfinite(mean_loss) and math.isfinite(grad_norm)):
                raise NonFiniteLoss(f"step {step}: loss {mean_loss} or grad norm {grad_norm} is not finite; "
                                    f"the last good checkpoint ({checkpoint.latest(paths.checkpoints)}) is kept. "
                                    "Lower train.optimizer.lr or raise warmup, then resume.")
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            metrics.step(step, loss=mean_loss, lr=lr, grad_norm=grad_norm,
                         step_time=time.perf_counter() - start, data_wait=data_wait,
                         tokens_seen=loader.position * seq_len, flush=stopping)
            due = (step % cfg.checkpoint.interval == 0 or step % cfg.checkpoint.keep_every == 0
                   or step in cfg.protected_steps())
            if stopping or due or step == until_step:
                save(cfg, paths, model, optimizer, step, loader.position, seq_len, rank0, ancestry)
            if stopping:
                if rank0:
                    log.info("stop requested (SIGUSR1/SIGTERM): saved step %d, exiting", step)
                break
    finally:
        loader.close()
        metrics.close()
    return step


def save(cfg, paths, model, optimizer, step, position, seq_len, rank0, ancestry) -> None:
    path = checkpoint.step_dir(paths.checkpoints, step)
    checkpoint.save(path, model, optimizer, {"step": step, "rows_consumed": position,
                                             "tokens_seen": position * seq_len, **ancestry,
                                             "world_size": dist.get_world_size(), "parallel": cfg.parallel})
    if rank0:
        deleted = checkpoint.retain(paths.checkpoints, keep_last=cfg.checkpoint.keep_last,
                                    keep_every=cfg.checkpoint.keep_every, protected=cfg.protected_steps())
        log.info("saved %s%s", path, f"; removed steps {deleted}" if deleted else "")
        if cfg.checkpoint.weights_only_older:
            rewritten = retention.drop_optimizer_state(paths.checkpoints, segment_ends=set(cfg.segment_ends()),
                                                       keep_last=cfg.checkpoint.keep_last)
            if rewritten:
                log.info("optimizer state dropped (weights only now) from steps %s", rewritten)
