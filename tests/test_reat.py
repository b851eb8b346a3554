"""REAT's pieces against the reference vectors (CIFAR-10, rho 50), and TAIL by hand."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from advtail.losses.reat import (
    rbl_class_weights,
    tail_class_weights,
    tail_classes,
    tail_feature_margin,
)

RHO50 = [5000, 3237, 2096, 1357, 878, 568, 368, 238, 154, 100]


def test_rbl_first_epoch_weights_match_the_reference_vector():
    expected = [0.071, 0.110, 0.170, 0.263, 0.407, 0.629, 0.970, 1.50, 2.32, 3.56]
    weights = rbl_class_weights(RHO50)
    assert weights == pytest.approx(expected, abs=0.006)
    assert weights.sum() == pytest.approx(10)


def test_rbl_weights_fall_for_a_class_that_drew_more_adversarial_examples():
    base = rbl_class_weights(RHO50)
    counts = np.array(RHO50, dtype=float)
    counts[9] *= 20  # the tail class drew many adversarial predictions last epoch
    shifted = rbl_class_weights(RHO50, counts)
    assert shifted[9] < base[9] and (shifted[:9] > base[:9]).all()
    # a one-image class and a class with no predictions stay finite
    finite = rbl_class_weights([10, 1], [0, 0])
    assert np.isfinite(finite).all() and finite.sum() == pytest.approx(2)


def test_tail_weights_match_the_reference_vector_and_the_tail_is_the_last_third():
    expected = [1.67, 2.08, 2.58, 3.21, 3.99, 4.96, 6.17, 7.67, 9.53, 11.83]
    assert tail_class_weights(RHO50) == pytest.approx(expected, abs=0.006)
    assert np.flatnonzero(tail_classes(RHO50)).tolist() == [7, 8, 9]


def test_tail_margin_by_hand_and_its_sign():
    omega = torch.tensor([1.0, 2.0])
    is_tail = torch.tensor([False, True])
    features = torch.tensor([[2.0, 0.0], [0.0, 2.0], [0.0, 1.0]])
    labels = torch.tensor([0, 1, 1])
    p = torch.softmax(features, 1)

    def kl(i, j):
        return float((p[i] * (p[i].log() - p[j].log())).sum())

    # anchors 1 and 2 (class 1, tail); pairs: (., 0) different class (+, W 3), same class
    # (-, W 4), itself (0)
    by_hand = np.mean(
        [np.mean([3 * kl(1, 0), 0.0, -4 * kl(1, 2)]), np.mean([3 * kl(2, 0), -4 * kl(2, 1), 0.0])]
    )
    margin = tail_feature_margin(features, labels, omega, is_tail)
    assert float(margin) == pytest.approx(by_hand, rel=1e-5)
    # pushing the head sample away from the tail raises R; no tail anchor gives 0
    farther = features.clone()
    farther[0] = torch.tensor([4.0, -2.0])
    assert tail_feature_margin(farther, labels, omega, is_tail) > margin
    assert float(tail_feature_margin(features[:1], labels[:1], omega, is_tail)) == 0.0
    # gradients reach the features
    features.requires_grad_(True)
    tail_feature_margin(features, labels, omega, is_tail).backward()
    assert features.grad.abs().sum() > 0
