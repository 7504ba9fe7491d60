"""The seed's published numbers, as fixture results, give the table a paper would print."""

import csv
import io

from cpt.report.make import ReportSpec, make_report
from report_helpers import write_result

TASKS = {"MMLU": "acc", "ARC-C": "acc", "Winogrande": "acc", "HellaSwag": "acc"}
PUBLISHED = {0: [0.634, 0.514, 0.741, 0.600], 73_500: [0.609, 0.521, 0.736, 0.602]}
STDERR = [0.0039, 0.0146, 0.0123, 0.0049]
TOKENS_PER_STEP = 64 * 21 * 8192  # 64 DP ranks x 21 sequences x 8192 tokens

EXPECTED_MD = """\
| Step | Tokens | MMLU | ARC-C | Winogrande | HellaSwag |
|---:|---:|---:|---:|---:|---:|
| 0 | 0 | 63.4 ± 0.4 | 51.4 ± 1.5 | 74.1 ± 1.2 | 60.0 ± 0.5 |
| 73,500 | 809B | 60.9 ± 0.4 (-2.5) | 52.1 ± 1.5 (+0.7) | 73.6 ± 1.2 (-0.5) | 60.2 ± 0.5 (+0.2) |
"""

EXPECTED_TEX = r"""\begin{tabular}{rrrrrr}
\toprule
Step & Tokens & MMLU & ARC-C & Winogrande & HellaSwag \\
\midrule
0 & 0 & 63.4 $\pm$ 0.4 & 51.4 $\pm$ 1.5 & 74.1 $\pm$ 1.2 & 60.0 $\pm$ 0.5 \\
73,500 & 809B & 60.9 $\pm$ 0.4 ($-$2.5) & 52.1 $\pm$ 1.5 (+0.7) & 73.6 $\pm$ 1.2 ($-$0.5) & 60.2 $\pm$ 0.5 (+0.2) \\
\bottomrule
\end{tabular}
"""


def published_report(run_dir):
    for step, values in PUBLISHED.items():
        for name, value, stderr in zip(TASKS, values, STDERR):
            write_result(run_dir, step, name, value, stderr)
    out = run_dir / "report"
    problems = make_report(ReportSpec(run_dir, sorted(PUBLISHED), TASKS, out, TOKENS_PER_STEP, 100, 3500))
    return out, problems


def test_markdown_table_matches_the_published_one(run_dir):
    out, problems = published_report(run_dir)
    assert problems == []
    assert EXPECTED_MD in (out / "results.md").read_text()


def test_latex_table(run_dir):
    out, _ = published_report(run_dir)
    assert (out / "results.tex").read_text() == EXPECTED_TEX


def test_csv_has_values_stderr_and_deltas_in_percent(run_dir):
    out, _ = published_report(run_dir)
    rows = list(csv.DictReader(io.StringIO((out / "results.csv").read_text())))
    assert [int(r["step"]) for r in rows] == [0, 73_500]
    assert int(rows[1]["tokens_seen"]) == 809_238_528_000
    assert float(rows[1]["MMLU"]) == 60.9 and float(rows[1]["MMLU_delta"]) == -2.5
    assert float(rows[0]["ARC-C_stderr"]) == 1.46 and rows[0]["ARC-C_delta"] == ""
    assert {r["HellaSwag_status"] for r in rows} == {"ok"}
