"""Count vectors of the subset profiles against the reference notes."""

import numpy as np
import pytest
from advtail.data.profiles import (
    balanced_counts,
    class_groups,
    exponential_counts,
    imbalance_ratio_of,
    step_counts,
)

# reference-notes.md, "Long-tailed subsets" (CIFAR-10, n_max 5000)
CIFAR10_LT = {
    100: ([5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50], 12406),
    50: ([5000, 3237, 2096, 1357, 878, 568, 368, 238, 154, 100], 13996),
    10: ([5000, 3871, 2997, 2320, 1796, 1391, 1077, 834, 645, 500], 20431),
}


@pytest.mark.parametrize("rho", sorted(CIFAR10_LT))
def test_cifar10_exponential_vectors(rho):
    expected, total = CIFAR10_LT[rho]
    counts = exponential_counts(5000, 10, rho)
    assert counts.tolist() == expected
    assert counts.sum() == total
    assert counts.dtype == np.int64


def test_cifar100_rho100_vector():
    counts = exponential_counts(500, 100, 100)
    assert counts[:3].tolist() == [500, 477, 455]
    assert counts[-1] == 5
    assert counts.sum() == 10847
    assert (np.diff(counts) <= 0).all()


def test_rho_one_is_balanced():
    assert exponential_counts(123, 7, 1).tolist() == [123] * 7


def test_step_profile_halves():
    assert step_counts(5000, 10, 100).tolist() == [5000] * 5 + [50] * 5
    # odd K: the minority is the last K // 2 classes
    assert step_counts(100, 5, 10).tolist() == [100, 100, 100, 10, 10]


def test_balanced_small_keeps_the_total():
    counts = balanced_counts(12406, 10)
    assert counts.sum() == 12406
    assert counts.max() - counts.min() == 1
    assert counts.tolist() == [1241] * 6 + [1240] * 4


def test_invalid_ratios_rejected():
    with pytest.raises(ValueError):
        exponential_counts(100, 10, 0.5)
    with pytest.raises(ValueError):
        step_counts(100, 10, 0.9)
    with pytest.raises(ValueError):
        exponential_counts(100, 1, 10)


def test_imbalance_ratio_and_groups():
    counts = exponential_counts(5000, 10, 100)
    assert imbalance_ratio_of(counts) == pytest.approx(100)
    groups = class_groups(counts)
    assert groups.tolist() == ["head"] * 3 + ["body"] * 4 + ["tail"] * 3
    # groups follow size, not index
    shuffled = counts[::-1]
    assert class_groups(shuffled).tolist() == ["tail"] * 3 + ["body"] * 4 + ["head"] * 3
    assert (class_groups(exponential_counts(500, 100, 100)) == "tail").sum() == 33
