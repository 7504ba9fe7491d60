"""Assemble the report: table files, plots, and a Markdown page tying them together."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cpt.rundir.paths import RunDir
from cpt.atomic import atomic_path
from cpt.report import plots, table
from cpt.report.results import OK, collect
from cpt.report.training import read_log, tokens_at


@dataclass(frozen=True)
class ReportSpec:
    run_dir: Path
    steps: list[int]
    tasks: dict[str, str]           # short name -> metric, in column order
    out_dir: Path
    tokens_per_step: int | None     # global batch tokens; where metrics.jsonl lacks tokens_seen
    loss_bin_steps: int             # report.loss_bin_steps
    coarse_bin_steps: int           # report.coarse_bin_steps
    config_digest: str | None = None  # cpt.digest.config_digest of the run's config


def _write(path: Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def problems(rows: list[table.Row]) -> list[str]:
    """One line per result that is not there, naming the file and what to do."""
    return [f"- step {row.step:,}, {name}: {cell.status} ({cell.reason}) `{cell.path}`; "
            f"rerun: `snakemake --forcerun {cell.path}`"
            for row in rows for name, cell in row.cells.items() if cell.status != OK]


def task_legend(rows: list[table.Row], tasks: dict[str, str]) -> list[str]:
    """Which lm-eval task, metric and shots each column is, from the records themselves."""
    lines = []
    for name, metric in tasks.items():
        record = next((r.cells[name].record for r in rows if r.cells[name].record), None) or {}
        lines.append(f"- {name}: lm-eval `{record.get('task', '?')}`, {metric}, "
                     f"{record.get('num_fewshot', '?')}-shot, "
                     f"lm-eval {record.get('lm_eval_version', '?')}, task version "
                     f"{record.get('task_version', '?')}, limit {record.get('limit')}")
    return lines


def run_line(spec: ReportSpec) -> str:
    """Which run the table is of: its name and, when known, its config digest."""
    digest = f", config digest {spec.config_digest}" if spec.config_digest else ""
    return f"Run {spec.run_dir.name}{digest}. Values in percent: value ± stderr (change from step 0 in points)."


def page(rows, spec: ReportSpec, plot_paths: list[Path], log) -> str:
    names = list(spec.tasks)
    issues = problems(rows)
    parts = [f"# Evaluation report: {spec.run_dir.name}", "", run_line(spec), "",
             table.markdown(rows, names), "## Tasks", "", *task_legend(rows, spec.tasks), "",
             "## Problems", "", *(issues or ["none"]), ""]
    if log.skipped_lines:
        parts += [f"Training metrics: skipped {log.skipped_lines} unreadable lines of {log.path}.", ""]
    parts += ["## Plots", ""]
    parts += [f"![{p.stem}]({p.relative_to(spec.out_dir).as_posix()})" for p in plot_paths]
    return "\n".join(parts) + "\n"


def metric_plot_path(out_dir: Path, name: str) -> Path:
    return out_dir / "plots" / f"metric-{name}.png"


def make_report(spec: ReportSpec) -> list[str]:
    """Write everything under spec.out_dir; returns the problem lines (empty when complete)."""
    log = read_log(RunDir(spec.run_dir).metrics)
    cells = collect(spec.run_dir, spec.steps, spec.tasks)
    rows = [table.Row(step, tokens_at(step, log, spec.tokens_per_step),
                      {name: cells[step, name] for name in spec.tasks}) for step in spec.steps]
    names = list(spec.tasks)
    plot_paths = plots.training_plots(log, spec.out_dir / "plots", spec.loss_bin_steps,
                                      spec.coarse_bin_steps)
    for name, metric in spec.tasks.items():
        path = metric_plot_path(spec.out_dir, name)
        plots.metric_plot(path, rows, name, metric)
        plot_paths.append(path)
    _write(spec.out_dir / "results.html", table.to_html(rows, names, run_line(spec)))
    _write(spec.out_dir / "results.csv", table.to_csv(rows, names))
    _write(spec.out_dir / "results.tex", table.latex(rows, names))
    _write(spec.out_dir / "results.md", page(rows, spec, plot_paths, log))
    return problems(rows)
