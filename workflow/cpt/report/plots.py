"""PNG plots: training loss (per 100-step and per coarse bin), LR, tokens/s, each metric vs tokens.

A plot with no data still gets written, saying why, so the report always has
the same files and a missing input shows up where a reader looks.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # batch nodes have no display
import matplotlib.pyplot as plt

from cpt.atomic import atomic_path
from cpt.report.results import OK
from cpt.report.table import Row, human_tokens
from cpt.report.training import TRAINING_PLOTS, TrainingLog, bin_means


def _save(fig, path: Path) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120, bbox_inches="tight")
    plt.close(fig)


def _line(path: Path, xs, ys, title: str, xlabel: str, ylabel: str, empty: str, marker="") -> None:
    fig, ax = plt.subplots(figsize=(6, 3.5))
    if xs:
        ax.plot(xs, ys, marker=marker)
    else:
        ax.text(0.5, 0.5, empty, ha="center", va="center", transform=ax.transAxes, wrap=True)
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    ax.grid(alpha=0.3)
    _save(fig, path)


def training_plots(log: TrainingLog, out_dir: Path, loss_bin: int, coarse_bin: int) -> list[Path]:
    """The four training plots, named as in TRAINING_PLOTS."""
    empty = f"no training metrics in {log.path}"
    steps, loss = log.series("loss")
    paths = [out_dir / f"{name}.png" for name in TRAINING_PLOTS]
    for path, size in zip(paths[:2], (loss_bin, coarse_bin)):
        xs, ys = bin_means(steps, loss, size)
        _line(path, xs, ys, f"training loss, mean per {size:,}-step bin", "step (bin end)", "loss",
              empty, marker="o" if len(xs) < 50 else "")
    _line(paths[2], *log.series("lr"), "learning rate", "step", "lr", empty)
    _line(paths[3], *log.series("tokens_per_s"), "throughput", "step", "tokens/s", empty)
    return paths


def metric_plot(path: Path, rows: list[Row], name: str, metric: str) -> None:
    """One task's metric (percent, with stderr bars) vs tokens seen; step 0 as a dashed line."""
    points = [(r.tokens, r.cells[name]) for r in rows
              if r.tokens is not None and r.cells[name].status == OK]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    if points:
        xs = [t for t, _ in points]
        ax.errorbar(xs, [100 * c.value for _, c in points],
                    yerr=[100 * (c.stderr or 0.0) for _, c in points], marker="o", capsize=3)
        if xs[0] == 0:
            ax.axhline(100 * points[0][1].value, linestyle="--", alpha=0.5, label="step 0")
            ax.legend()
        ticks = ax.get_xticks()
        ax.set_xticks(ticks, [human_tokens(int(t)) if t >= 0 else "" for t in ticks])
        ax.set_xlim(min(xs) - 0.05 * (max(xs) - min(xs) or 1), max(xs) + 0.05 * (max(xs) - min(xs) or 1))
    else:
        ax.text(0.5, 0.5, "no results yet", ha="center", va="center", transform=ax.transAxes)
    ax.set(title=f"{name} ({metric})", xlabel="tokens seen", ylabel=f"{metric} (%)")
    ax.grid(alpha=0.3)
    _save(fig, path)
