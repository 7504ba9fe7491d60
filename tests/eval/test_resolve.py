"""Real task names resolve offline from lm-eval's own YAMLs (no download), as the prefetch plans them."""

import pytest
from cpt.evaluate.prefetch import datasets_of, leaf_tasks

REAL = {
    "arc_challenge": ("allenai/ai2_arc", "ARC-Challenge"),
    "winogrande": ("allenai/winogrande", "winogrande_xl"),
    "hellaswag": ("Rowan/hellaswag", None),
}


@pytest.mark.parametrize("name", sorted(REAL))
def test_single_real_tasks_resolve(offline_task_index, name):
    [found] = datasets_of(offline_task_index, name)
    assert (found["dataset_path"], found["dataset_name"]) == REAL[name]
    assert not found["shipped"]


def test_mmlu_resolves_to_its_57_subjects(offline_task_index):
    found = datasets_of(offline_task_index, "mmlu")
    assert len(found) == 57
    assert {f["dataset_path"] for f in found} == {"cais/mmlu"}
    assert "mmlu_abstract_algebra" in {f["task"] for f in found}


def test_shipped_tasks_and_groups_resolve(offline_task_index):
    assert leaf_tasks(offline_task_index, "cpt_test_group") == ["cpt_demo_arith", "cpt_demo_count"]
    assert all(f["shipped"] for f in datasets_of(offline_task_index, "cpt_demo"))


def test_unknown_task_is_a_clear_error(offline_task_index):
    with pytest.raises(LookupError, match="arc_challenge.*eval.tasks"):
        leaf_tasks(offline_task_index, "arc_challenge_typo")
