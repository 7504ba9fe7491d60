import numpy as np
import pytest

from cpt.data.permutation import permute


@pytest.mark.parametrize("n", [1, 2, 3, 7, 64, 1000, 65539])
def test_is_a_bijection_of_range(n):
    image = permute(np.arange(n), n, [1, 2, 3])
    assert sorted(image.tolist()) == list(range(n))


def test_random_access_agrees_with_the_whole():
    n = 10_007
    whole = permute(np.arange(n), n, [5])
    picks = np.array([0, 17, 5000, 10_006, 17])
    assert (permute(picks, n, [5]) == whole[picks]).all()


def test_seed_names_the_permutation():
    n = 5000
    a, b, c = (permute(np.arange(n), n, seed) for seed in ([1, 0], [1, 0], [1, 1]))
    assert (a == b).all()
    assert (a != c).mean() > 0.9
    # shuffled, not a near-identity
    assert abs(np.corrcoef(np.arange(n), a)[0, 1]) < 0.1
