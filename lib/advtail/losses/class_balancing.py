"""The class-balancing regularizer of "Class Balancing GAN with a Classifier in the Loop"
(Rangwani, Mopuri, Babu; UAI 2021) and its effective-class-frequency tracker.

A frozen classifier C labels the generator's samples. Per cycle (a fixed number of
generator steps) the tracker turns the argmax counts c_k of the finished cycle into an
effective class frequency N_k that forgets exponentially, and into class weights w_k,
large for classes produced rarely of late. With p = mean over the batch of
softmax(C(G(z))), the generator minimises

    L_G + lambda_eff * sum_k w_k p_k log p_k

i.e. it maximises the weighted entropy sum_k w_k p_k (-log p_k) (paper Eq. 7 and 9:
"maximise L_reg = sum_k p_k log(p_k) / N_k", with signs as the authors' code has them).

The two forms, side by side:

=================  ======================================  ==============================
                   ``paper`` (Eq. 5-6, appendix)           ``code`` (val-iisc/class-
                                                           balancing-gan)
=================  ======================================  ==============================
N_k update         N_k <- (1 - alpha) N_k + c_k            N_k <- max(0.5 N_k + 0.5 c_k, 1)
start              N_k = 1, first cycle from 0 counts      N_k = 50, first cycle seeded
                                                           with 512 counts per class
weight w_k         sum_j N_j / max(N_k, floor * mean N)    (1/N_k) / sum_j (1/N_j) * K
                   (1 / Nhat_k, Eq. 6, unnormalised)       (sums to K)
lambda_eff         lambda / K                              lambda
=================  ======================================  ==============================

The code form (the default: it made the paper's numbers) normalises its weights to sum
K, so no class's multiplier exceeds lambda K however unbalanced the generator. The paper
form keeps Eq. 6's unnormalised 1 / Nhat_k, so it pushes (sum N)(sum 1/N) / K^2 times as
hard as the code form on identical counts: 1 for a balanced generator, 1.67 when the
generated shares follow a rho-10 profile, 6.2 for rho 100. Taken literally it is
unbounded: a class absent from a cycle gets N_k = 0.5 and halves every further cycle, so
its weight grows without limit (a digits run collapsed this way: the generator chased
the classifier and the discriminator won). Our bound is a floor on N_k at ``floor``
times the mean N (default 0.1): it changes no weight while every class keeps a tenth of
the mean share (1% of the samples for K = 10), and caps the multiplier lambda_eff w_k at
lambda / floor (10 lambda, the code form's cap for K = 10). The floor is ours, not the
paper's.

``fixed`` holds N_k constant (paper Fig. 1b: a very large N_k for one class pushes its
share down, a very small one pushes it up); the paper form then takes the fixed N_k as
written, without the floor (they cannot vanish).
"""

from __future__ import annotations

import numpy as np
import torch

FORMS = ("paper", "code")


class EffectiveClassFrequency:
    """Effective class frequency N_k, updated once per cycle from argmax counts."""

    def __init__(
        self,
        num_classes: int,
        form: str = "code",
        alpha: float = 0.5,
        initial=None,
        fixed: bool = False,
        first_cycle_counts: float | None = None,
        floor: float = 0.1,
    ):
        if form not in FORMS:
            raise ValueError(f"form must be one of {FORMS}, got {form!r}")
        if not 0 < floor <= 1:
            raise ValueError(f"floor must lie in (0, 1], got {floor}")
        self.num_classes = num_classes
        self.form = form
        self.alpha = alpha
        self.fixed = fixed
        self.floor = floor
        default_initial = 50.0 if form == "code" else 1.0
        if initial is None:
            initial = np.full(num_classes, default_initial)
        self.frequency = np.broadcast_to(
            np.asarray(initial, dtype=np.float64), (num_classes,)
        ).copy()
        if first_cycle_counts is None:
            first_cycle_counts = 512.0 if form == "code" else 0.0
        # argmax counts of the cycle in progress
        self.cycle_counts = np.full(num_classes, float(first_cycle_counts))
        self.cycles = 0

    def observe(self, predicted: torch.Tensor | np.ndarray) -> None:
        """Add the classifier's argmax labels of generated samples to this cycle's counts."""
        labels = np.asarray(torch.as_tensor(predicted).detach().cpu()).ravel()
        self.cycle_counts += np.bincount(labels, minlength=self.num_classes)[: self.num_classes]

    def end_cycle(self) -> np.ndarray:
        """Fold this cycle's counts into N_k (unless fixed); start a new cycle."""
        counts = self.cycle_counts
        if not self.fixed:
            if self.form == "paper":
                self.frequency = (1.0 - self.alpha) * self.frequency + counts
            else:  # convex combination, clamped at one (authors' code)
                self.frequency = np.maximum(
                    (1.0 - self.alpha) * self.frequency + self.alpha * counts, 1.0
                )
        self.cycle_counts = np.zeros(self.num_classes)
        self.cycles += 1
        return counts

    def normalized(self) -> np.ndarray:
        """Nhat_k = N_k / sum_j N_j (paper Eq. 6)."""
        return self.frequency / self.frequency.sum()

    def weights(self) -> np.ndarray:
        """Class weights w_k of the regularizer (see the module docstring): the code
        form's inverse frequencies normalised to sum K, or the paper's sum_j N_j / N_k
        with N_k floored at ``floor`` x the mean N (not when N is held fixed)."""
        if self.form == "paper":
            # held fixed (Fig. 1b), N_k is the user's: no floor, Eq. 6 as written
            floor = 0.0 if self.fixed else self.floor * self.frequency.mean()
            floored = np.maximum(self.frequency, max(floor, np.finfo(np.float64).tiny))
            return self.frequency.sum() / floored
        inverse = 1.0 / np.maximum(self.frequency, np.finfo(np.float64).tiny)
        return inverse / inverse.sum() * self.num_classes

    def raw_paper_weights(self) -> np.ndarray:
        """The paper's unbounded 1 / Nhat_k (Eq. 6), for comparison only."""
        return 1.0 / np.maximum(self.normalized(), 1e-300)

    @property
    def max_weight(self) -> float:
        """The largest weight any class can get: K / floor (paper) or K (code)."""
        k = self.num_classes
        return float(k / self.floor if self.form == "paper" else k)

    def state_dict(self) -> dict:
        return {
            "frequency": torch.tensor(self.frequency),
            "cycle_counts": torch.tensor(self.cycle_counts),
            "cycles": self.cycles,
        }

    def load_state_dict(self, state: dict) -> None:
        self.frequency = state["frequency"].double().numpy().copy()
        self.cycle_counts = state["cycle_counts"].double().numpy().copy()
        self.cycles = int(state["cycles"])


def class_balancing_term(probabilities: torch.Tensor, weights) -> torch.Tensor:
    """sum_k w_k p_k log p_k with p the batch mean of ``probabilities`` (N x K softmax).

    Minimising it raises the weighted entropy of the batch's class distribution.
    """
    mean = probabilities.mean(dim=0)
    w = torch.as_tensor(weights, dtype=mean.dtype, device=mean.device)
    return (w * mean * torch.log(mean.clamp_min(1e-12))).sum()


class ClassBalancingRegularizer:
    """lambda_eff * sum_k w_k p_k log p_k, with the tracker's weights, for the generator loss.

    ``classifier`` is frozen (eval mode, no parameter gradients); gradients flow to the
    generator through its input. Call :meth:`__call__` on each generated batch (it also
    records the argmax labels for the tracker) and :meth:`end_cycle` every
    ``cycle_steps`` generator steps.
    """

    def __init__(
        self,
        classifier: torch.nn.Module,
        num_classes: int,
        lam: float,
        form: str = "code",
        alpha: float = 0.5,
        fixed_frequency=None,
        floor: float = 0.1,
    ):
        self.classifier = classifier.eval()
        for parameter in self.classifier.parameters():
            parameter.requires_grad_(False)
        fixed = fixed_frequency is not None
        self.tracker = EffectiveClassFrequency(
            num_classes, form, alpha, initial=fixed_frequency, fixed=fixed, floor=floor
        )
        self.lam = lam
        self.scale = lam / num_classes if form == "paper" else lam

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        probabilities = torch.softmax(self.classifier(images), dim=1)
        self.tracker.observe(probabilities.argmax(dim=1))
        return self.scale * class_balancing_term(probabilities, self.tracker.weights())

    def end_cycle(self) -> dict:
        """Close a cycle: its row of ``cycles.csv``, the argmax shares of the cycle's
        samples (``share_k``) and the effective class frequencies they led to (``N_k``)."""
        counts = self.tracker.end_cycle()
        total = max(float(np.sum(counts)), 1.0)
        row = {f"share_{k}": float(c) / total for k, c in enumerate(counts)}
        row |= {f"N_{k}": float(n) for k, n in enumerate(self.tracker.frequency)}
        return row

    def state_dict(self) -> dict:
        return self.tracker.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.tracker.load_state_dict(state)


def softmax_entropy(logits: torch.Tensor) -> torch.Tensor:
    """H(softmax(logits)) per row, natural log."""
    log_p = torch.log_softmax(logits, dim=1)
    return -(log_p.exp() * log_p).sum(dim=1)


class ActivationMaximizationRegularizer:
    """``weight`` * L_AM, L_AM = mean over the batch of H(C(G(z))) (CBGAN Eq. 11).

    The data-free UAP prior GAN adds it to its generator loss (Eq. 10,
    L_G - lambda L_reg + L_AM): minimising each sample's entropy under the frozen victim
    C makes every sample confidently one of the victim's classes, while the
    class-balancing term (when also configured) spreads the batch over many classes.
    Its cycle row is the mean entropy and the share of each class in the cycle's samples
    (how many of the victim's classes the prior GAN covers).
    """

    def __init__(self, classifier: torch.nn.Module, num_classes: int, weight: float = 1.0):
        self.classifier = classifier.eval()
        for parameter in self.classifier.parameters():
            parameter.requires_grad_(False)
        self.num_classes = num_classes
        self.weight = weight
        self.counts = np.zeros(num_classes)
        self.entropy_sum, self.batches = 0.0, 0

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        logits = self.classifier(images)
        entropy = softmax_entropy(logits).mean()
        predicted = logits.argmax(dim=1).detach().cpu().numpy()
        self.counts += np.bincount(predicted, minlength=self.num_classes)
        self.entropy_sum += float(entropy.detach())
        self.batches += 1
        return self.weight * entropy

    def end_cycle(self) -> dict:
        total = max(float(self.counts.sum()), 1.0)
        row = {"mean_entropy": self.entropy_sum / max(self.batches, 1)}
        row |= {"classes_covered": int((self.counts > 0).sum())}
        row |= {f"share_{k}": float(c) / total for k, c in enumerate(self.counts)}
        self.counts[:] = 0
        self.entropy_sum, self.batches = 0.0, 0
        return row

    def state_dict(self) -> dict:
        return {
            "counts": torch.as_tensor(self.counts),
            "entropy_sum": self.entropy_sum,
            "batches": self.batches,
        }

    def load_state_dict(self, state: dict) -> None:
        self.counts = state["counts"].double().numpy().copy()
        self.entropy_sum, self.batches = float(state["entropy_sum"]), int(state["batches"])
