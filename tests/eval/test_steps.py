import pytest
from cpt.evaluate.steps import (
    CHECKPOINT_MARKER,
    check_cadence,
    covering_segment_end,
    evaluated_steps,
    model_dir,
    result_path,
    step_name,
)


def test_reference_cadence_covers_base_every_3500_and_final():
    steps = evaluated_steps(3500, 500_000)
    assert steps[:3] == [0, 3500, 7000]
    assert 73_500 in steps
    assert steps[-2:] == [497_000, 500_000]
    assert len(steps) == 144


def test_demo_cadence():
    assert evaluated_steps(150, 300) == [0, 150, 300]
    assert evaluated_steps(200, 300) == [0, 200, 300]


def test_cadence_must_match_kept_checkpoints():
    check_cadence(7000, 3500)
    with pytest.raises(ValueError, match="eval.every.*keep_every"):
        check_cadence(5000, 3500)


def test_step_zero_is_the_base_model_dir_as_is(tmp_path):
    assert model_dir(0, "models/Llama-3.1-8B", tmp_path) == model_dir(0, "models/Llama-3.1-8B", "x")
    assert str(model_dir(0, "models/Llama-3.1-8B", tmp_path)) == "models/Llama-3.1-8B"
    assert model_dir(73_500, "m", tmp_path) == tmp_path / "eval" / "models" / "step-00073500"


def test_result_path_per_step_and_task(tmp_path):
    assert step_name(150) == "step-00000150"
    assert result_path(tmp_path, 150, "ARC-C") == tmp_path / "eval/results/step-00000150/ARC-C.json"


def test_a_checkpoint_comes_from_the_segment_covering_it():
    assert covering_segment_end(3500, 3500, 500_000) == 3500
    assert covering_segment_end(7000, 3500 * 4, 500_000) == 14_000
    assert covering_segment_end(500_000, 3500, 500_000) == 500_000


def test_marker_name_is_the_trainers():
    from cpt.train.checkpoint import MARKER

    assert CHECKPOINT_MARKER == MARKER
