"""Every path of a run, in one place: `results/<run>/` and what each stage writes under it.

Stages, the chain, the status view, the report and the planner all ask here, so the
layout is spelled once. Paths stay relative when the config's `results_dir` is (the
Snakefile's outputs are relative to its working directory).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

MARKER = "complete.json"          # a checkpoint's completion record, written last
STEP_DIR = re.compile(r"^step-(\d{8})$")
# files of the train dir that more than one module reads
HISTORY = "run.json"              # the run's settings history (cpt.rundir.lineage)
WRITER = "writer.json"            # the one-writer record (cpt.chain.lease)
TRAINER_LOCK = "trainer.lock"     # flock held by a trainer's rank 0 for its life (cpt.rundir.trainer_lock)
TRAINER = "trainer.json"          # who holds it: host, pid, since
CHAIN_CONFIG = "chain-config.json"
METRICS = "metrics.jsonl"


def step_name(step: int) -> str:
    """Directory name of a step (checkpoints, exports, results): sorts as text."""
    return f"step-{step:08d}"


def step_dir(checkpoints: str | Path, step: int) -> Path:
    return Path(checkpoints) / step_name(step)


@dataclass(frozen=True)
class RunDir:
    """`results/<run>/` and every output under it."""

    root: Path

    @classmethod
    def of(cls, config: dict) -> "RunDir":
        return cls(Path(config.get("results_dir", "results")) / config["run"])

    # data
    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def manifest(self) -> Path:
        return self.data / "manifest.json"

    def listing(self, source: str) -> Path:
        return self.data / "sources" / f"{source}.txt"

    def download_record(self, source: str) -> Path:
        return self.data / "sources" / f"{source}.download.json"

    @property
    def tokenized_dir(self) -> Path:
        return self.data / "tokenized"

    def tokenized(self, source: str, shard: int) -> Path:
        return self.tokenized_dir / source / f"{shard:05d}.arrow"

    def tokenize_record(self, source: str, group: int) -> Path:
        """What a tokenize node job writes once every shard of its group is (cpt.data.group)."""
        return self.tokenized_dir / source / f"group-{group:03d}.json"

    @property
    def mixed_dir(self) -> Path:
        return self.data / "mixed"

    def mixed(self, shard: int) -> Path:
        return self.mixed_dir / f"{shard:05d}.arrow"

    def mix_record(self, group: int) -> Path:
        """What a mix node job writes once every mixed shard of its group is (cpt.data.group)."""
        return self.mixed_dir / f"group-{group:03d}.json"

    # training
    @property
    def train(self) -> Path:
        return self.root / "train"

    @property
    def checkpoints(self) -> Path:
        return self.train / "checkpoints"

    def checkpoint(self, step: int) -> Path:
        return step_dir(self.checkpoints, step)

    def marker(self, step: int) -> Path:
        return self.checkpoint(step) / MARKER

    def segment_record(self, step: int) -> Path:
        """What train_segment writes once step `step` is complete and valid (evals depend on it)."""
        return self.train / "segments" / f"{step_name(step)}.json"

    @property
    def metrics(self) -> Path:
        return self.train / METRICS

    @property
    def history(self) -> Path:
        return self.train / HISTORY

    @property
    def writer(self) -> Path:
        return self.train / WRITER

    @property
    def chain_config(self) -> Path:
        """The config queued chain jobs read (the controller rewrites it: operational edits reach them)."""
        return self.train / CHAIN_CONFIG

    @property
    def jobs(self) -> Path:
        """Chain jobs' Slurm logs (<job id>.log)."""
        return self.train / "jobs"

    @property
    def preflight(self) -> Path:
        """The compute preflight's work dir (its config, comm figure, eval result; scratch training)."""
        return self.train / "preflight"

    @property
    def preflight_record(self) -> Path:
        """The compute preflight's verdict for one training digest (cpt.chain.preflight)."""
        return self.train / "preflight.json"

    @property
    def wandb(self) -> Path:
        return self.train / "wandb"

    # evaluation, report, publishing, logs
    @property
    def eval(self) -> Path:
        return self.root / "eval"

    def prefetched(self, task_name: str) -> Path:
        """What eval_prefetch writes once a task's data is in the HF cache."""
        return self.eval / "prefetch" / f"{task_name}.json"

    @property
    def exports(self) -> Path:
        return self.eval / "models"

    def export(self, step: int) -> Path:
        return self.exports / step_name(step)

    @property
    def eval_results(self) -> Path:
        return self.eval / "results"

    def result(self, step: int, task: str) -> Path:
        """One results JSON per (step, task): a new task or step adds files, never rewrites others."""
        return self.eval_results / step_name(step) / f"{task}.json"

    @property
    def report(self) -> Path:
        return self.root / "report"

    @property
    def publish_dir(self) -> Path:
        return self.root / "publish" / "hf"

    def publish_receipt(self, step: int) -> Path:
        """Written when a step is on the hub: the storage policy may remove its export after this."""
        return self.publish_dir / f"{step_name(step)}.json"

    # the layout sweep (cpt.plan.sweep)
    @property
    def sweep(self) -> Path:
        return self.root / "sweep"

    def sweep_record(self, layout: str) -> Path:
        """One cpt.train.bench record per measured layout."""
        return self.sweep / "layouts" / f"{layout}.json"

    @property
    def sweep_table(self) -> Path:
        return self.sweep / "table.csv"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def controller_config(self) -> Path:
        """The effective config as the controller last parsed it: jobs read settings that must not
        trigger reruns from here (cpt.checks.config.write_controller_config)."""
        return self.root / "config.json"
