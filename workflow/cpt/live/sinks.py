"""Live views of the training metrics, beside metrics.jsonl: TensorBoard (always) and W&B (when configured).

Rank 0 hands every metrics.jsonl record to each sink. TensorBoard event files go to
`<train_dir>/tensorboard/step` (x = optimizer step) and `<train_dir>/tensorboard/tokens`
(x = tokens seen); two runs, because TensorBoard's purge on resume drops every
event at or past one x value, and the two axes need their own. A resumed segment
opens both with `purge_step` just past the resumed point, so events a killed run
wrote beyond its last checkpoint are hidden and the curve has no duplicate or
out-of-order step (the same rule as metrics.jsonl's truncation).

A sink that fails (disk full, a W&B error) is switched off with one warning naming
the setting: live views never stop training.
"""

from __future__ import annotations

import logging
from pathlib import Path

from cpt.live.scalars import scalars
from cpt.rundir.paths import RunDir

log = logging.getLogger("cpt")


def live_settings(config: dict) -> dict:
    """What a trainer's `--live` carries: config `metrics:` (W&B) and where eval results
    appear (the W&B run logs them as they finish)."""
    return {**(config.get("metrics") or {}), "eval_results": str(RunDir.of(config).eval_results)}


class TensorBoard:
    """Event files of training scalars, against step and against tokens."""

    setting = "the TensorBoard dir <train_dir>/tensorboard"

    def __init__(self, log_dir: Path, *, resumed_step: int, resumed_tokens: int):
        from torch.utils.tensorboard import SummaryWriter
        self.by_step = SummaryWriter(str(log_dir / "step"), purge_step=resumed_step + 1)
        self.by_tokens = SummaryWriter(str(log_dir / "tokens"), purge_step=resumed_tokens + 1)

    def write(self, record: dict) -> None:
        for key, value in scalars(record).items():
            self.by_step.add_scalar(f"train/{key}", value, record["step"])
            self.by_tokens.add_scalar(f"train/{key}", value, record["tokens_seen"])
        self.by_step.add_scalar("train/tokens_seen", record["tokens_seen"], record["step"])
        # Flushed per record (one every log_interval steps): a killed job loses nothing logged.
        self.by_step.flush()
        self.by_tokens.flush()

    def close(self) -> None:
        self.by_step.close()
        self.by_tokens.close()


class Sinks:
    """The live sinks of one segment, opened at its first step (the resumed point is
    known then); a sink is dropped, with a warning, at its first error."""

    def __init__(self, train_dir: Path, settings: dict, run_config: dict):
        self.train_dir, self.settings, self.run_config = train_dir, settings, run_config
        self.open: list = []

    def start(self, *, resumed_step: int, resumed_tokens: int) -> None:
        makers = [lambda: TensorBoard(self.train_dir / "tensorboard", resumed_step=resumed_step,
                                      resumed_tokens=resumed_tokens)]
        if self.settings.get("wandb"):
            from cpt.live.wandb_sink import WandbSink
            makers.append(lambda: WandbSink(self.train_dir / "wandb", self.settings["wandb"], self.run_config,
                                            eval_results=self.settings.get("eval_results")))
        for make in makers:
            try:
                self.open.append(make())
            except Exception as err:  # noqa: BLE001 - a live view never stops training
                log.warning("live metrics: could not open a sink (%s); training goes on without it", err)

    def write(self, record: dict) -> None:
        for sink in list(self.open):
            try:
                sink.write(record)
            except Exception as err:  # noqa: BLE001 - a live view never stops training
                log.warning("live metrics: %s failed (%s); switched off for this segment, metrics.jsonl goes on. "
                            "Check %s.", type(sink).__name__, err, sink.setting)
                self.open.remove(sink)

    def close(self) -> None:
        for sink in self.open:
            try:
                sink.close()
            except Exception as err:  # noqa: BLE001 - closing is best effort, the data is flushed
                log.warning("live metrics: closing %s failed (%s)", type(sink).__name__, err)
        self.open = []
