"""python -m cpt.report: what the report rule runs."""

import argparse

import pytest
from cpt.report.__main__ import main, parse_task
from report_helpers import write_result


def test_cli_writes_the_report_and_prints_its_path(run_dir, capsys):
    write_result(run_dir, 0, "Arith", 0.25, 0.06)
    out = run_dir / "report"
    assert main(["--run-dir", str(run_dir), "--steps", "0,150", "--task", "Arith=acc",
                 "--tokens-per-step", "1024", "--loss-bin-steps", "100",
                 "--coarse-bin-steps", "50", "--out-dir", str(out)]) == 0
    captured = capsys.readouterr()
    assert captured.out.strip() == f"report: {out / 'results.md'}"
    assert "step 150, Arith: missing" in captured.err
    assert "| 150 | 154K | missing |" in (out / "results.md").read_text()


def test_task_spec_is_name_equals_metric():
    assert parse_task("ARC-C=acc_norm") == ("ARC-C", "acc_norm")
    with pytest.raises(argparse.ArgumentTypeError, match="NAME=METRIC"):
        parse_task("ARC-C")
