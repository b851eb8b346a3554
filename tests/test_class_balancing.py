"""The class-balancing regularizer: tracker updates, weights, lambda scaling, gradient sign."""

import numpy as np
import pytest
import torch
from advtail.losses.class_balancing import (
    ClassBalancingRegularizer,
    EffectiveClassFrequency,
    class_balancing_term,
)


def test_paper_update_rule():
    tracker = EffectiveClassFrequency(3, form="paper", alpha=0.5)
    tracker.observe(torch.tensor([0, 0, 0, 1, 2, 0]))
    assert tracker.end_cycle().tolist() == [4, 1, 1]
    # N^1 = (1 - alpha) N^0 + c^0 with N^0 = 1
    assert tracker.frequency.tolist() == [4.5, 1.5, 1.5]
    tracker.observe(np.array([1, 1]))
    tracker.end_cycle()
    assert tracker.frequency.tolist() == [2.25, 2.75, 0.75]
    assert tracker.normalized().sum() == pytest.approx(1.0)
    # Eq. 6's weights, unnormalised: sum N / N_k (no class is below the floor here)
    np.testing.assert_allclose(tracker.weights(), 5.75 / np.array([2.25, 2.75, 0.75]))
    np.testing.assert_allclose(tracker.weights(), tracker.raw_paper_weights())


def test_code_update_rule():
    tracker = EffectiveClassFrequency(2, form="code")
    assert tracker.frequency.tolist() == [50, 50]
    tracker.observe(torch.tensor([0] * 10))
    tracker.end_cycle()
    # first cycle starts at 512 per class; convex combination 0.5 / 0.5
    assert tracker.frequency.tolist() == [0.5 * 50 + 0.5 * 522, 0.5 * 50 + 0.5 * 512]
    tracker.end_cycle()  # an empty cycle halves, but never below one
    for _ in range(20):
        tracker.end_cycle()
    assert tracker.frequency.tolist() == [1.0, 1.0]
    tracker.frequency = np.array([1.0, 3.0])
    np.testing.assert_allclose(tracker.weights(), [1.5, 0.5])  # sum K


def test_fixed_frequency_never_moves():
    tracker = EffectiveClassFrequency(3, fixed=True, initial=[1000, 1, 1])
    tracker.observe(torch.tensor([1, 2, 2]))
    tracker.end_cycle()
    assert tracker.frequency.tolist() == [1000, 1, 1]


def test_state_round_trip():
    tracker = EffectiveClassFrequency(3, form="code")
    tracker.observe(torch.tensor([2, 2]))
    other = EffectiveClassFrequency(3, form="code")
    other.load_state_dict(tracker.state_dict())
    assert other.cycle_counts.tolist() == tracker.cycle_counts.tolist()
    assert other.frequency.tolist() == tracker.frequency.tolist()


def test_moving_mass_to_an_over_produced_class_raises_the_loss():
    # class 0 was produced far more often of late: small weight
    weights = EffectiveClassFrequency(3, initial=[100, 10, 10]).weights()
    balanced = torch.tensor([[1 / 3, 1 / 3, 1 / 3]])
    towards_head = torch.tensor([[0.5, 0.25, 0.25]])
    # a small move (x log x is least at 1/e, so a large one can overshoot)
    towards_tail = torch.tensor([[0.3, 0.35, 0.35]])
    assert class_balancing_term(towards_head, weights) > class_balancing_term(balanced, weights)
    assert class_balancing_term(towards_tail, weights) < class_balancing_term(balanced, weights)
    # and the gradient on class 0's logit is positive: descent lowers its share
    logits = torch.zeros(1, 3, requires_grad=True)
    class_balancing_term(torch.softmax(logits, 1), weights).backward()
    assert logits.grad[0, 0] > 0 and logits.grad[0, 1] < 0


def optimum(weights, steps=4000):
    logits = torch.zeros(4, requires_grad=True)
    optimizer = torch.optim.SGD([logits], lr=0.02)
    for _ in range(steps):
        optimizer.zero_grad()
        class_balancing_term(torch.softmax(logits, 0)[None], weights).backward()
        optimizer.step()
    return torch.softmax(logits, 0).detach().numpy()


def test_optimum_is_uniform_for_equal_frequencies_and_moves_with_them():
    np.testing.assert_allclose(optimum(np.ones(4)), 0.25, atol=1e-3)
    # paper Fig. 1b in the maths: a large N_0 lowers class 0's share, a small one raises it
    large = optimum(EffectiveClassFrequency(4, initial=[40, 10, 10, 10]).weights())
    weights = EffectiveClassFrequency(4, initial=[1, 10, 10, 10]).weights()
    small = optimum(weights)
    assert large[0] < 0.25 < small[0]
    # the stationary point: w_k (log p_k + 1) is the same for every class
    stationary = weights * (np.log(small) + 1)
    np.testing.assert_allclose(stationary, stationary.mean(), atol=1e-3)


class Linear(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.layer = torch.nn.Linear(4, 3)

    def forward(self, x):
        return self.layer(x.flatten(1))


def test_regularizer_scaling_freezing_and_gradients():
    torch.manual_seed(0)
    classifier = Linear()
    images = torch.randn(8, 4, requires_grad=True)
    paper = ClassBalancingRegularizer(classifier, 3, lam=6.0, form="paper")
    value = paper(images)
    probabilities = torch.softmax(classifier(images), 1)
    expected = 6.0 / 3 * class_balancing_term(probabilities, paper.tracker.weights())
    assert value.item() == pytest.approx(expected.item(), rel=1e-6)
    code = ClassBalancingRegularizer(classifier, 3, lam=6.0, form="code")
    assert code.scale == 6.0
    # the classifier is frozen; the gradient reaches the images
    assert not any(p.requires_grad for p in classifier.parameters())
    value.backward()
    assert images.grad is not None and images.grad.abs().sum() > 0
    # the batch's argmax labels were recorded for the cycle
    assert paper.tracker.cycle_counts.sum() == 8
    counts = paper.tracker.cycle_counts.copy()
    cycle = paper.end_cycle()  # the cycle's row of cycles.csv: shares and the new N_k
    assert [cycle[f"share_{k}"] for k in range(3)] == pytest.approx(counts / 8)
    assert [cycle[f"N_{k}"] for k in range(3)] == pytest.approx(paper.tracker.frequency)
    assert paper.tracker.cycle_counts.sum() == 0


@pytest.mark.parametrize("form", ["paper", "code"])
def test_a_vanishing_class_cannot_blow_the_weights_up(form):
    # class 1 is never produced again: the paper's raw N_1 halves every cycle
    k, lam = 10, 2.0
    tracker = EffectiveClassFrequency(k, form=form)
    counts = np.repeat(np.arange(k), 640)
    for _ in range(60):
        tracker.observe(counts[counts != 1])
        tracker.end_cycle()
    weights = tracker.weights()
    scale = lam / k if form == "paper" else lam
    # every class's multiplier is at most lambda K (code) or lambda / floor (paper: 10
    # lambda at the default floor 0.1), and the vanished class gets the most
    assert (scale * weights).max() <= lam * k * (1 + 1e-12)
    assert weights.max() == pytest.approx(tracker.max_weight, rel=0.15)
    assert weights.argmax() == 1
    if form == "paper":
        # without the floor the paper form's weight would be astronomically large
        assert tracker.raw_paper_weights()[1] > 1e15


def test_the_two_forms_differ_on_an_unbalanced_generator():
    """On a generator whose shares follow a rho-100 profile the paper form pushes the
    rarest class (sum N)(sum 1/N) / K^2 = 6.2 times as hard as the code form, and its
    weights do not sum to K; they agree for a balanced generator."""
    k = 10
    shares = 100.0 ** (-np.arange(k) / (k - 1))
    paper = EffectiveClassFrequency(k, form="paper", initial=shares, floor=0.001)
    code = EffectiveClassFrequency(k, form="code", initial=shares)
    ratio = (paper.weights() / k) / code.weights()  # lambda / K against lambda
    np.testing.assert_allclose(ratio, shares.sum() * (1 / shares).sum() / k**2)
    assert ratio[0] == pytest.approx(6.2, abs=0.05)
    assert code.weights().sum() == pytest.approx(k) and paper.weights().sum() > 5 * k**2
    balanced_paper = EffectiveClassFrequency(k, form="paper", initial=np.ones(k))
    np.testing.assert_allclose(balanced_paper.weights() / k, code.__class__(k).weights())


def test_the_floor_changes_no_weight_above_it_and_caps_below():
    tracker = EffectiveClassFrequency(4, form="paper", initial=[10.0, 10.0, 10.0, 2.0])
    # mean 8: floor 0.1 is 0.8, below every N_k, so the weights are Eq. 6's
    np.testing.assert_allclose(tracker.weights(), tracker.raw_paper_weights())
    tracker.frequency = np.array([10.0, 10.0, 10.0, 0.01])
    floored = 0.1 * tracker.frequency.mean()
    np.testing.assert_allclose(tracker.weights()[3], tracker.frequency.sum() / floored)
    np.testing.assert_allclose(tracker.weights()[:3], tracker.raw_paper_weights()[:3])
    with pytest.raises(ValueError, match="floor"):
        EffectiveClassFrequency(4, form="paper", floor=0)


def test_fixed_frequencies_take_eq_6_as_written():
    """Fig. 1b holds N_k fixed: the paper form's weights are sum N / N_k, unfloored."""
    fixed = [1.0] + [100.0] * 9
    tracker = EffectiveClassFrequency(10, form="paper", initial=fixed, fixed=True)
    assert tracker.weights()[0] == pytest.approx(901.0)
    np.testing.assert_allclose(tracker.weights(), tracker.raw_paper_weights())
