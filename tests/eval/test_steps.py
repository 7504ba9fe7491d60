from pathlib import Path

from cpt.evaluate.steps import covering_segment_end, evaluated_steps, model_dir
from cpt.rundir.paths import RunDir, step_name


def test_reference_cadence_covers_base_every_3500_and_final():
    steps = evaluated_steps(3500, 500_000)
    assert steps[:3] == [0, 3500, 7000]
    assert 73_500 in steps
    assert steps[-2:] == [497_000, 500_000]
    assert len(steps) == 144


def test_demo_cadence():
    assert evaluated_steps(150, 300) == [0, 150, 300]
    assert evaluated_steps(200, 300) == [0, 200, 300]


def test_step_zero_is_the_base_model_dir_as_is(tmp_path):
    run = RunDir(tmp_path)
    assert model_dir(0, "models/Llama-3.1-8B", run) == model_dir(0, "models/Llama-3.1-8B", RunDir(Path("x")))
    assert str(model_dir(0, "models/Llama-3.1-8B", run)) == "models/Llama-3.1-8B"
    assert model_dir(73_500, "m", run) == tmp_path / "eval" / "models" / "step-00073500"


def test_result_path_per_step_and_task(tmp_path):
    assert step_name(150) == "step-00000150"
    assert RunDir(tmp_path).result(150, "ARC-C") == tmp_path / "eval/results/step-00000150/ARC-C.json"


def test_a_checkpoint_comes_from_the_segment_covering_it():
    assert covering_segment_end(3500, 3500, 500_000) == 3500
    assert covering_segment_end(7000, 3500 * 4, 500_000) == 14_000
    assert covering_segment_end(500_000, 3500, 500_000) == 500_000

