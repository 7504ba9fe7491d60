"""The shipped demo tasks: data reproducible from the generator, loadable like any lm-eval task."""

import json

from cpt.evaluate import build_demo_tasks
from cpt.evaluate.build_demo_tasks import GENERATORS, SPLITS, data_path


def test_shipped_data_matches_the_generator():
    assert build_demo_tasks.main(["--check"]) == 0


def test_rows_are_well_formed_multiple_choice():
    for task in GENERATORS:
        data = json.loads(data_path(task).read_text())
        assert {split: len(rows) for split, rows in data.items()} == SPLITS
        for row in data["test"]:
            assert len(row["choices"]) == len(set(row["choices"])) == 4
            assert 0 <= row["label"] < 4


def test_builder_is_deterministic():
    assert all(build_demo_tasks.build(t) == build_demo_tasks.build(t) for t in GENERATORS)
