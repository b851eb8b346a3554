"""Classification losses and class weights against the reference notes."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from advtail.data.profiles import exponential_counts
from advtail.losses.classification import (
    BalancedSoftmaxLoss,
    ClassWeightSchedule,
    FocalLoss,
    LDAMLoss,
    build_classification_loss,
    effective_number_weights,
    ldam_margins,
)

CIFAR10_RHO100 = exponential_counts(5000, 10, 100)


def test_ldam_margin_vector():
    expected = [0.158, 0.180, 0.204, 0.232, 0.264, 0.300, 0.341, 0.387, 0.440, 0.500]
    np.testing.assert_allclose(ldam_margins(CIFAR10_RHO100), expected, atol=5e-4)


def test_drw_weight_vector():
    expected = [0.051, 0.077, 0.121, 0.195, 0.319, 0.525, 0.868, 1.443, 2.409, 3.993]
    weights = effective_number_weights(CIFAR10_RHO100, 0.9999)
    np.testing.assert_allclose(weights, expected, atol=5e-4)
    assert weights.sum() == pytest.approx(10)


def test_empty_class_counts_as_one():
    weights = effective_number_weights([100, 0, 10], 0.9)
    assert np.isfinite(weights).all()
    np.testing.assert_allclose(weights, effective_number_weights([100, 1, 10], 0.9))


def test_drw_schedule_switches_on_at_start_epoch():
    schedule = ClassWeightSchedule(
        {"name": "drw", "beta": 0.9999, "start_epoch": 3}, CIFAR10_RHO100
    )
    assert schedule(0) is None and schedule(2) is None
    np.testing.assert_allclose(schedule(3), effective_number_weights(CIFAR10_RHO100))
    assert ClassWeightSchedule(None, CIFAR10_RHO100)(10) is None
    always = ClassWeightSchedule({"name": "class_balanced", "beta": 0.9999}, CIFAR10_RHO100)
    assert always(0) is not None


@pytest.fixture
def batch():
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(16, 10, generator=generator)
    targets = torch.randint(0, 10, (16,), generator=generator)
    return logits, targets


def test_focal_formula(batch):
    logits, targets = batch
    weight = torch.linspace(0.5, 2.0, 10)
    ce = F.cross_entropy(logits, targets, weight=weight, reduction="none")
    expected = ((1 - torch.exp(-ce)) ** 2.0 * ce).mean()
    assert FocalLoss(2.0)(logits, targets, weight).item() == pytest.approx(expected.item())
    # gamma = 0 is plain (per-sample mean) cross-entropy
    assert FocalLoss(0.0)(logits, targets).item() == pytest.approx(
        F.cross_entropy(logits, targets).item(), rel=1e-6
    )


def test_ldam_subtracts_the_margin_of_the_true_class_only(batch):
    logits, targets = batch
    loss = LDAMLoss(CIFAR10_RHO100, max_margin=0.5, scale=30.0)
    margins = torch.tensor(ldam_margins(CIFAR10_RHO100), dtype=torch.float32)
    shifted = logits.clone()
    shifted[torch.arange(16), targets] -= margins[targets]
    expected = F.cross_entropy(30.0 * shifted, targets)
    assert loss(logits, targets).item() == pytest.approx(expected.item(), rel=1e-6)
    # a larger margin on the true class can only raise the loss
    assert loss(logits, targets).item() > F.cross_entropy(30.0 * logits, targets).item()


def test_balanced_softmax_adds_log_prior(batch):
    logits, targets = batch
    counts = np.array([50, 0, 10, 5, 5, 5, 5, 5, 5, 500])
    expected = F.cross_entropy(
        logits + torch.log(torch.tensor(np.maximum(counts, 1.0), dtype=torch.float32)), targets
    )
    assert BalancedSoftmaxLoss(counts)(logits, targets).item() == pytest.approx(expected.item())


def test_builder_names():
    counts = CIFAR10_RHO100
    assert isinstance(build_classification_loss({"name": "ldam"}, counts), LDAMLoss)
    assert build_classification_loss({"name": "focal", "gamma": 2}, counts).gamma == 2
    with pytest.raises(ValueError):
        build_classification_loss({"name": "hinge"}, counts)
