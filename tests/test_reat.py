"""REAT's pieces against the reference vectors (CIFAR-10, rho 50), and TAIL by hand."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from advtail.losses.reat import (
    rbl_class_weights,
    tail_class_weights,
    tail_classes,
    tail_term_code,
    tail_term_paper,
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


def test_tail_code_form_is_the_authors_reduction_by_hand():
    """Three samples, D = 2: GuanlinLee/REAT's loop, entry by entry (KLDivLoss with
    size_average='none' is a mean over all B x D entries; the tiled anchor is the target)."""
    omega = torch.tensor([1.0, 2.0])
    is_tail = torch.tensor([False, True])
    features = torch.tensor([[2.0, 0.0], [0.0, 2.0], [0.5, 1.0]])
    labels = torch.tensor([0, 1, 1])
    log_q = torch.log_softmax(features, 1)
    total = torch.zeros(3)
    anchors = 0
    for i in range(3):
        if labels[i] != 1:
            continue
        p = torch.softmax(features[i], 0)
        kl_i = float((p[None, :] * (p.log()[None, :] - log_q)).mean())  # mean over 3 x 2
        s = torch.tensor([-1.0 if labels[i] == labels[j] else 1.0 for j in range(3)])
        w = torch.tensor([float(omega[labels[i]] + omega[labels[j]]) for j in range(3)])
        total += kl_i * s * w
        anchors += 1
    by_hand = float(total.mean() / anchors)
    assert float(tail_term_code(features, labels, omega, is_tail)) == pytest.approx(
        by_hand, rel=1e-5
    )
    assert float(tail_term_code(features[:1], labels[:1], omega, is_tail)) == 0.0


def test_tail_code_form_sends_no_gradient_to_the_anchor():
    """The anchor's softmax is a constant target (the code's .detach()): the gradient
    equals that of the same sum with every anchor distribution held fixed, and would
    differ if the anchor carried gradient too."""
    omega = torch.tensor([1.0, 2.0])
    is_tail = torch.tensor([False, True])
    features = torch.tensor([[2.0, 0.0], [0.0, 2.0], [0.5, 1.0]], requires_grad=True)
    labels = torch.tensor([0, 1, 1])
    tail_term_code(features, labels, omega, is_tail).backward()
    # by hand: the gradient of the authors' form with the targets held fixed
    held = features.detach().clone().requires_grad_(True)
    targets = torch.softmax(features.detach()[labels == 1], 1)  # constants
    log_q = torch.log_softmax(held, 1)
    kl = torch.stack([(t[None, :] * (t.log()[None, :] - log_q)).mean() for t in targets])
    s = torch.where(labels[labels == 1][:, None] == labels[None, :], -1.0, 1.0)
    w = omega[labels[labels == 1]][:, None] + omega[labels][None, :]
    ((kl[:, None] * s * w).sum(0).mean() / 2).backward()
    assert torch.allclose(features.grad, held.grad, atol=1e-6)
    assert features.grad.abs().sum() > 0


def test_tail_paper_form_is_bounded_and_moves_tail_features_from_other_classes():
    torch.manual_seed(0)
    omega = torch.tensor([1.0, 1.0, 2.0])
    is_tail = torch.tensor([False, False, True])
    labels = torch.tensor([0, 0, 1, 1, 2, 2, 2])
    features = torch.randn(7, 8, requires_grad=True)
    # bounded: any feature scale keeps every KL within 2 x scale
    huge = tail_term_paper(1e6 * features.detach(), labels, omega, is_tail, scale=10.0)
    assert abs(float(huge)) <= 2 * 10.0 * float(omega.max() * 2)

    def kl_tail_to_others(f):
        log_p = torch.log_softmax(10.0 * torch.nn.functional.normalize(f, dim=1), 1)
        p = log_p.exp()
        kl = (p[:, None, :] * (log_p[:, None, :] - log_p[None, :, :])).sum(2)
        tail, other = labels == 2, labels != 2
        same = kl[tail][:, tail].sum() / (tail.sum() * (tail.sum() - 1))
        return float(kl[tail][:, other].mean()), float(same)

    away_before, together_before = kl_tail_to_others(features.detach())
    optimizer = torch.optim.SGD([features], lr=0.05)
    for _ in range(50):  # maximise R: the loss takes -R
        optimizer.zero_grad()
        (-tail_term_paper(features, labels, omega, is_tail)).backward()
        optimizer.step()
    away_after, together_after = kl_tail_to_others(features.detach())
    assert away_after > away_before * 1.5
    assert together_after < together_before
