"""The results table: rows = steps (with tokens seen), columns = tasks; Markdown, HTML, CSV, LaTeX.

Values are in percent, as papers print them: value ± stderr, and for later
steps the change from step 0 in points.
"""

from __future__ import annotations

import csv
import html
import io
from dataclasses import dataclass

from cpt.report.results import OK, Cell


@dataclass(frozen=True)
class Row:
    step: int
    tokens: int | None
    cells: dict[str, Cell]


def human_tokens(tokens: int | None) -> str:
    """809,200,000,000 -> '809B' (three significant digits, as the seed writes it)."""
    if tokens is None:
        return "?"
    for unit, scale in (("T", 1e12), ("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if tokens >= scale:
            return f"{tokens / scale:.3g}{unit}"
    return str(tokens)


def delta(row: Row, base: Row | None, name: str) -> float | None:
    """Change from step 0 in percent points; None without both numbers."""
    cell = row.cells[name]
    if base is None or row is base or cell.status != OK or base.cells[name].status != OK:
        return None
    return 100 * (cell.value - base.cells[name].value)


def cell_text(row: Row, base: Row | None, name: str, pm: str = "±", minus: str = "-") -> str:
    cell = row.cells[name]
    if cell.status != OK:
        return cell.status
    text = f"{100 * cell.value:.1f}"
    if cell.stderr is not None:
        text += f" {pm} {100 * cell.stderr:.1f}"
    change = delta(row, base, name)
    if change is not None:
        sign = "+" if round(change, 1) >= 0 else minus
        text += f" ({sign}{abs(change):.1f})"
    return text


def base_row(rows: list[Row]) -> Row | None:
    return next((r for r in rows if r.step == 0), None)


def markdown(rows: list[Row], names: list[str]) -> str:
    base = base_row(rows)
    lines = ["| Step | Tokens | " + " | ".join(names) + " |",
             "|---:|---:|" + "---:|" * len(names)]
    for row in rows:
        lines.append(f"| {row.step:,} | {human_tokens(row.tokens)} | "
                     + " | ".join(cell_text(row, base, n) for n in names) + " |")
    return "\n".join(lines) + "\n"


def to_html(rows: list[Row], names: list[str], caption: str) -> str:
    """An HTML fragment (a <table>): Snakemake's report shows it inline, a browser opens it as is."""
    base = base_row(rows)
    head = "".join(f"<th>{html.escape(n)}</th>" for n in ["Step", "Tokens", *names])
    body = ["<tr>" + "".join(f"<td>{html.escape(text)}</td>" for text in
                             [f"{row.step:,}", human_tokens(row.tokens), *(cell_text(row, base, n) for n in names)])
            + "</tr>" for row in rows]
    return (f'<table class="cpt-results">\n<caption>{html.escape(caption)}</caption>\n'
            f"<thead><tr>{head}</tr></thead>\n<tbody>\n" + "\n".join(body) + "\n</tbody>\n</table>\n")


def to_csv(rows: list[Row], names: list[str]) -> str:
    """Wide CSV for spreadsheets: per task its value, stderr and delta (percent) and status."""
    base = base_row(rows)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["step", "tokens_seen"] + [f"{n}{suffix}" for n in names
                                               for suffix in ("", "_stderr", "_delta", "_status")])
    for row in rows:
        values: list = [row.step, "" if row.tokens is None else row.tokens]
        for name in names:
            cell, change = row.cells[name], delta(row, base, name)
            values += [_pct(cell.value), _pct(cell.stderr),
                       "" if change is None else round(change, 4), cell.status]
        writer.writerow(values)
    return out.getvalue()


def _pct(x: float | None):
    return "" if x is None else round(100 * x, 4)


LATEX_SPECIAL = {"&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{",
                 "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
                 "\\": r"\textbackslash{}"}


def latex_escape(text: str) -> str:
    return "".join(LATEX_SPECIAL.get(ch, ch) for ch in text)


def latex(rows: list[Row], names: list[str]) -> str:
    """A booktabs tabular, ready to \\input into a paper."""
    base = base_row(rows)
    lines = [r"\begin{tabular}{rr" + "r" * len(names) + "}", r"\toprule",
             "Step & Tokens & " + " & ".join(latex_escape(n) for n in names) + r" \\", r"\midrule"]
    for row in rows:
        cells = [cell_text(row, base, n, pm=r"$\pm$", minus="$-$") for n in names]
        lines.append(f"{row.step:,} & {human_tokens(row.tokens)} & "
                     + " & ".join(cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(lines) + "\n"
