"""Classification losses for long-tailed data and their class re-weighting.

- cross-entropy, optionally class-weighted;
- focal loss (Lin et al. 2017), in the form kaidic/LDAM-DRW uses:
  (1 - exp(-CE_w)) ** gamma * CE_w;
- LDAM (Cao et al. 2019, Eq. 13): margins m_j = C / n_j^(1/4) with max_j m_j = max_margin,
  loss = CE(s * (z - m_y 1_y), y);
- Balanced Softmax (Ren et al. 2020; REAT's outer loss): CE(z + log n, y);
- class-balanced weights by effective number (Cui et al. 2019):
  w_k proportional to (1 - beta) / (1 - beta^n_k), normalised to sum K;
- deferred re-weighting, DRW (Cao et al. 2019): weights 1 until ``start_epoch``, then
  the class-balanced weights.

Every loss is called as ``loss(logits, targets, weight=None)`` with ``weight`` a
per-class tensor (or None), so the trainer swaps losses and re-weighting freely.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


def _counts(class_counts) -> np.ndarray:
    # A class with no images is treated as having one (no division by zero, no log 0).
    return np.maximum(np.asarray(class_counts, dtype=np.float64), 1.0)


def effective_number_weights(class_counts, beta: float = 0.9999) -> np.ndarray:
    """Class-balanced weights (Cui et al. 2019): (1 - beta) / (1 - beta^n_k), summing to K."""
    n = _counts(class_counts)
    weights = (1.0 - beta) / (1.0 - np.power(beta, n))
    return weights / weights.sum() * len(n)


def ldam_margins(class_counts, max_margin: float = 0.5) -> np.ndarray:
    """LDAM margins m_j = C / n_j^(1/4), C chosen so the largest margin is ``max_margin``."""
    margins = 1.0 / np.sqrt(np.sqrt(_counts(class_counts)))
    return margins * (max_margin / margins.max())


class CrossEntropyLoss(nn.Module):
    def forward(self, logits, targets, weight=None):
        return F.cross_entropy(logits, targets, weight=weight)


class FocalLoss(nn.Module):
    """(1 - p) ** gamma * CE_w with p = exp(-CE_w), averaged over the batch."""

    def __init__(self, gamma: float = 1.0):
        super().__init__()
        self.gamma = gamma

    def forward(self, logits, targets, weight=None):
        ce = F.cross_entropy(logits, targets, weight=weight, reduction="none")
        return ((1.0 - torch.exp(-ce)) ** self.gamma * ce).mean()


class LDAMLoss(nn.Module):
    """Label-distribution-aware margin loss: CE(s * (z - m_y at the true class), y)."""

    def __init__(self, class_counts, max_margin: float = 0.5, scale: float = 30.0):
        super().__init__()
        margins = torch.tensor(ldam_margins(class_counts, max_margin), dtype=torch.float32)
        self.register_buffer("margins", margins)
        self.scale = scale

    def forward(self, logits, targets, weight=None):
        is_target = F.one_hot(targets, logits.shape[1]).bool()
        shifted = torch.where(is_target, logits - self.margins[targets].unsqueeze(1), logits)
        return F.cross_entropy(self.scale * shifted, targets, weight=weight)


class BalancedSoftmaxLoss(nn.Module):
    """CE(logits + log n_k, y): the softmax of the training prior is undone (Ren et al. 2020)."""

    def __init__(self, class_counts):
        super().__init__()
        log_prior = torch.tensor(np.log(_counts(class_counts)), dtype=torch.float32)
        self.register_buffer("log_prior", log_prior)

    def forward(self, logits, targets, weight=None):
        return F.cross_entropy(logits + self.log_prior, targets, weight=weight)


LOSSES = {
    "ce": CrossEntropyLoss,
    "focal": FocalLoss,
    "ldam": LDAMLoss,
    "balanced_softmax": BalancedSoftmaxLoss,
}
# Losses built from the training set's class counts (their first argument).
FROM_CLASS_COUNTS = {"ldam", "balanced_softmax"}


def build_classification_loss(cfg: dict, class_counts) -> nn.Module:
    """The loss named by ``cfg['name']``, given only the options ``cfg`` sets: every
    default lives in the loss's own signature."""
    name = cfg["name"]
    if name not in LOSSES:
        raise ValueError(f"unknown loss {name!r}; expected one of {sorted(LOSSES)}")
    options = {key: value for key, value in cfg.items() if key != "name"}
    if name in FROM_CLASS_COUNTS:
        return LOSSES[name](class_counts, **options)
    return LOSSES[name](**options)


class ClassWeightSchedule:
    """Per-class loss weights for each epoch.

    ``none``: no weights. ``class_balanced``: effective-number weights from epoch 0.
    ``drw``: deferred re-weighting, none before ``start_epoch``, class-balanced after.
    """

    def __init__(self, cfg: dict | None, class_counts):
        cfg = cfg or {"name": "none"}
        self.name = cfg["name"]
        self.start_epoch = cfg.get("start_epoch", 0) if self.name == "drw" else 0
        self.weights = (
            None
            if self.name == "none"
            else effective_number_weights(
                class_counts, **{k: v for k, v in cfg.items() if k == "beta"}
            )
        )

    def __call__(self, epoch: int) -> np.ndarray | None:
        if self.weights is None or epoch < self.start_epoch:
            return None
        return self.weights
