"""One W&B run per training run: training metrics and eval results, offline on compute nodes.

Every segment reopens the same run (its id lives in `<train_dir>/wandb/cpt-state.json`)
in offline mode (Frontier's compute nodes have no internet); `snakemake wandb_sync` on
the login node uploads the offline dirs in order (cpt.live.wandb_sync).

W&B needs its own row counter (`_step`) to grow across the offline dirs of one run, so
rows are numbered here and the charts use their own x axes (`define_metric`):
`train/step` for training, `eval/step` (the evaluated checkpoint) for eval results,
which arrive after training has moved on. A job resumes from what the offline files
hold (cpt.live.wandb_files): steps a killed job logged and W&B wrote are skipped,
steps it lost are logged again (from metrics.jsonl up to the resumed checkpoint, by
the trainer after it), so the run has each step once, in order.
"""

from __future__ import annotations

import uuid
from pathlib import Path

from cpt.report.results import finished
from cpt.live import wandb_files
from cpt.live.scalars import scalars
from cpt.rundir.metrics import read_metrics
from cpt.rundir.paths import METRICS

RUN_ID = "cpt-run-id"  # the W&B run id every segment of this training run reopens


def run_id(wandb_dir: Path, configured: str | None) -> str:
    path = wandb_dir / RUN_ID
    if not path.exists():
        wandb_dir.mkdir(parents=True, exist_ok=True)
        path.write_text((configured or uuid.uuid4().hex[:12]) + "\n")
    return path.read_text().strip()


def progress(wandb_dir: Path) -> dict:
    """What the offline runs hold: the last row, the last training step, the evals logged."""
    _, rows = wandb_files.history(wandb_dir)
    return {"row": max((r.get("_step", 0) for r in rows), default=0),
            "last_step": max((r["train/step"] for r in rows if "train/step" in r), default=0),
            "evals": [[r["eval/step"], key[len("eval/"):]] for r in rows if "eval/step" in r
                      for key in r if key.startswith("eval/") and key != "eval/step" and not key.endswith("_stderr")]}


def new_eval_results(results_dir: Path | None, logged: list) -> list[dict]:
    """Finished eval records (results/step-N/<task>.json, status ok) not yet logged, by step."""
    if results_dir is None:
        return []
    done = {tuple(pair) for pair in logged}
    return [r for r in finished(results_dir) if (r["step"], r["name"]) not in done]


class WandbSink:
    """Training records and eval results as rows of one W&B run."""

    setting = "metrics.wandb in the config (project, entity, mode) and the W&B client's log in <train_dir>/wandb"

    def __init__(self, wandb_dir: Path, settings: dict, run_config: dict, eval_results: str | None = None,
                 mode: str | None = None):
        import wandb
        self.dir, self.eval_results = wandb_dir, Path(eval_results) if eval_results else None
        self.state = progress(wandb_dir)
        self.run = wandb.init(project=settings["project"], entity=settings.get("entity"), name=settings.get("name"),
                              group=settings.get("group"), tags=settings.get("tags"),
                              id=run_id(wandb_dir, settings.get("id")),
                              resume="allow", mode=mode or settings.get("mode", "offline"), dir=str(wandb_dir),
                              config=run_config, settings=wandb.Settings(console="off", silent=True))
        for axis in ("train", "eval"):
            self.run.define_metric(f"{axis}/step")
            self.run.define_metric(f"{axis}/*", step_metric=f"{axis}/step")
        # Steps up to the resumed checkpoint that W&B lost with a killed job: metrics.jsonl has them.
        for record in read_metrics(wandb_dir.parent / METRICS).records:
            self._log_training(record)

    def _log(self, row: dict) -> None:
        self.state["row"] += 1
        self.run.log(row, step=self.state["row"])

    def _log_training(self, record: dict) -> None:
        if record["step"] > self.state["last_step"]:  # a resumed segment skips what an earlier job logged
            self.state["last_step"] = record["step"]
            self._log({"train/step": record["step"], "train/tokens_seen": record["tokens_seen"],
                       **{f"train/{key}": value for key, value in scalars(record).items()}})

    def write(self, record: dict) -> None:
        self._log_training(record)
        self.log_evals()

    def log_evals(self) -> int:
        """Log the eval results finished since the last call; returns how many."""
        fresh = new_eval_results(self.eval_results, self.state["evals"])
        for r in fresh:
            self.state["evals"].append([r["step"], r["name"]])
            row = {"eval/step": r["step"], f"eval/{r['name']}": r["value"]}
            if r.get("stderr") is not None:
                row[f"eval/{r['name']}_stderr"] = r["stderr"]
            self._log(row)
        return len(fresh)

    def close(self) -> None:
        run_dir = Path(self.run.dir).parent      # offline-run-<time>-<id>/files -> its offline run dir
        self.run.finish()
        (run_dir / wandb_files.CLOSED).touch()   # the sync uploads it now, not while a job writes it
