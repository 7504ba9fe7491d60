import pytest
from cpt.evaluate.record import MetricMissing, task_record

SINGLE = {
    "results": {"arc_challenge": {"acc,none": 0.514, "acc_stderr,none": 0.0146,
                                  "acc_norm,none": 0.55, "acc_norm_stderr,none": 0.0145}},
    "versions": {"arc_challenge": 1.0}, "n-shot": {"arc_challenge": 0},
    "n-samples": {"arc_challenge": {"original": 1172, "effective": 1172}},
}
GROUP = {
    "results": {"mmlu": {"acc,none": 0.634, "acc_stderr,none": 0.0039},
                "mmlu_anatomy": {"acc,none": 0.6, "acc_stderr,none": 0.04},
                "mmlu_virology": {"acc,none": 0.5, "acc_stderr,none": "N/A"}},
    "versions": {"mmlu": 2, "mmlu_anatomy": 1.0, "mmlu_virology": 1.0},
    "n-shot": {"mmlu_anatomy": 5, "mmlu_virology": 5},
    "n-samples": {"mmlu_anatomy": {"original": 135, "effective": 10},
                  "mmlu_virology": {"original": 166, "effective": 10}},
}


def test_single_task_record():
    rec = task_record(SINGLE, "arc_challenge", "acc_norm")
    assert rec["value"] == 0.55 and rec["stderr"] == 0.0145
    assert rec["task_version"] == 1.0 and rec["num_fewshot"] == 0
    assert rec["samples"] == {"original": 1172, "effective": 1172} and rec["subtasks"] == 1


def test_group_record_sums_subtask_samples():
    rec = task_record(GROUP, "mmlu", "acc")
    assert rec["value"] == 0.634 and rec["stderr"] == 0.0039 and rec["task_version"] == 2
    assert rec["samples"] == {"original": 301, "effective": 20} and rec["subtasks"] == 2
    assert rec["num_fewshot"] == 5


def test_uncomputed_stderr_is_none():
    assert task_record(GROUP, "mmlu_virology", "acc")["stderr"] is None


def test_unknown_metric_names_the_config_field():
    with pytest.raises(MetricMissing, match=r"no metric 'f1'.*'acc_norm'.*eval.tasks\[\].metric"):
        task_record(SINGLE, "arc_challenge", "f1")
    with pytest.raises(MetricMissing, match="no results for task 'hellaswag'"):
        task_record(SINGLE, "hellaswag", "acc")
