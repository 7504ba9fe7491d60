"""Missing, corrupt and failed results are shown in the report, never fatal."""

import json

from cpt.rundir.paths import RunDir
from cpt.report.make import ReportSpec, make_report
from cpt.report.results import CORRUPT, FAILED, MISSING, OK, collect
from report_helpers import write_result

TASKS = {"Arith": "acc", "Count": "acc_norm"}


def fixture_run(run_dir):
    write_result(run_dir, 0, "Arith", 0.25, 0.06)
    write_result(run_dir, 0, "Count", 0.30, 0.07, metric="acc_norm")
    write_result(run_dir, 150, "Arith", 0.35, 0.07)
    # step 150 Count: missing (job killed before writing)
    torn = RunDir(run_dir).result(300, "Arith")
    torn.parent.mkdir(parents=True, exist_ok=True)
    torn.write_text('{"status": "ok", "value": 0.4')
    RunDir(run_dir).result(300, "Count").write_text(json.dumps(
        {"status": "failed", "metric": "acc_norm", "error": "ConnectionError: offline"}))


def test_cells_say_what_is_wrong(run_dir):
    fixture_run(run_dir)
    cells = collect(run_dir, [0, 150, 300], TASKS)
    assert {k: c.status for k, c in cells.items()} == {
        (0, "Arith"): OK, (0, "Count"): OK, (150, "Arith"): OK,
        (150, "Count"): MISSING, (300, "Arith"): CORRUPT, (300, "Count"): FAILED}
    assert "ConnectionError" in cells[300, "Count"].reason


def test_wrong_metric_is_flagged(run_dir):
    write_result(run_dir, 0, "Count", 0.3, 0.07, metric="acc")
    cell = collect(run_dir, [0], {"Count": "acc_norm"})[0, "Count"]
    assert cell.status == CORRUPT and "acc_norm" in cell.reason


def test_report_lists_problems_and_still_writes_everything(run_dir):
    fixture_run(run_dir)
    out = run_dir / "report"
    problems = make_report(ReportSpec(run_dir, [0, 150, 300], TASKS, out, 1024, 100, 50))
    assert len(problems) == 3
    page = (out / "results.md").read_text()
    assert "| 150 | 154K | 35.0 ± 7.0 (+10.0) | missing |" in page
    assert "| 300 | 307K | corrupt | failed |" in page
    assert str(RunDir(run_dir).result(150, "Count")) in page
    for name in ("results.csv", "results.tex", "plots/loss_per_100_steps.png",
                 "plots/metric-Arith.png", "plots/metric-Count.png"):
        assert (out / name).stat().st_size > 0
