"""REAT (Li et al., "Alleviating the Effect of Data Imbalance on Adversarial Training"):
the re-balancing loss (RBL) that PGD ascends during training, and the tail-feature
margin (TAIL, Algorithm 1) on penultimate features.

- RBL class weights (REAT Eq. 2, the effective number of the previous epoch's
  adversarial predictions): beta_k = (n_k - 1) / n_k, E_k = (1 - beta_k^a_k) /
  (1 - beta_k), w_k = 1 / (E_k + 1e-5) normalised to sum K; a_k is the number of
  training adversarial examples predicted as class k in the previous epoch, n_k in
  the first. PGD's inner loss is then ``attacks.losses.weighted_cross_entropy(w)``.
- TAIL class weights omega_k = sqrt(sum_j n_j / n_k) (smoothed inverse frequency).
- TAIL margin R: features softmax-normalised; for each anchor i of a tail class and
  each j of the batch, s_ij W_ij KL(p_i || p_j) with s_ij = -1 for the same class and +1
  otherwise, W_ij = omega_{y_i} + omega_{y_j}; averaged over j, then over the anchors.
  This is the per-pair form of the paper; the public code averages the KL to one scalar
  before weighting, which the reference notes call a reduction quirk. The paper's text
  maximises R; its code and the reference notes add it to BSL (see
  :class:`TailFeatureMarginLoss`).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from advtail.data.profiles import class_groups


def _counts(class_counts) -> np.ndarray:
    # a class without images counts as one, as in the other long-tail losses
    return np.maximum(np.asarray(class_counts, dtype=np.float64), 1.0)


def rbl_class_weights(train_counts, adversarial_counts=None, eps: float = 1e-5) -> np.ndarray:
    """RBL's weights w_k (sum K) from the training counts n_k and the previous epoch's
    adversarial prediction counts a_k (None: the first epoch, a_k = n_k)."""
    n = _counts(train_counts)
    a = n if adversarial_counts is None else np.asarray(adversarial_counts, dtype=np.float64)
    beta = (n - 1.0) / n
    effective = (1.0 - beta**a) / (1.0 - beta)  # 1 - beta = 1 / n > 0
    weights = 1.0 / (effective + eps)
    return weights / weights.sum() * len(n)


def tail_class_weights(train_counts) -> np.ndarray:
    """TAIL's omega_k = sqrt(sum_j n_j / n_k)."""
    n = _counts(train_counts)
    return np.sqrt(n.sum() / n)


def tail_classes(train_counts) -> np.ndarray:
    """Boolean mask of the tail classes: the last third by training count (REAT)."""
    return class_groups(np.asarray(train_counts)) == "tail"


def tail_feature_margin(
    features: torch.Tensor, labels: torch.Tensor, omega: torch.Tensor, is_tail: torch.Tensor
) -> torch.Tensor:
    """TAIL's R for a batch (zero without a tail anchor)."""
    log_p = F.log_softmax(features, dim=1)
    anchors = is_tail.to(labels.device)[labels].nonzero().squeeze(1)
    if len(anchors) == 0:
        return features.new_zeros(())
    log_pi = log_p[anchors]  # (A, D)
    # KL(p_i || p_j) for every anchor i and batch member j: (A, B)
    kl = (log_pi.exp() * log_pi).sum(1, keepdim=True) - log_pi.exp() @ log_p.T
    same = labels[anchors][:, None] == labels[None, :]
    sign = torch.where(same, -1.0, 1.0).to(features.dtype)
    omega = omega.to(features.device, features.dtype)
    weight = omega[labels[anchors]][:, None] + omega[labels][None, :]
    return (sign * weight * kl).mean(1).mean()


TAIL_SIGNS = ("add", "subtract")


class TailFeatureMarginLoss(torch.nn.Module):
    """REAT's outer loss: a long-tail loss (REAT: balanced softmax) and the TAIL term R
    on penultimate features, in the per-pair form of Algorithm 1.

    ``sign: add`` (the default) is loss + lambda * R: "BSL + TAIL" as the reference
    notes write it and as the authors' public code trains. ``sign: subtract`` is
    loss - lambda * R, R maximised as Sec. 4.2's text words it; R is unbounded above
    (scaling the features up sharpens their softmax and every KL grows), and on the
    digits that run diverged (README, "Adversarial training").
    """

    uses_features = True

    def __init__(self, base: torch.nn.Module, class_counts, lam: float = 1.0, sign: str = "add"):
        super().__init__()
        if sign not in TAIL_SIGNS:
            raise ValueError(f"TAIL sign must be one of {TAIL_SIGNS}, got {sign!r}")
        self.base, self.lam, self.sign = base, lam, sign
        omega = torch.tensor(tail_class_weights(class_counts), dtype=torch.float32)
        self.register_buffer("omega", omega)
        self.register_buffer("is_tail", torch.as_tensor(tail_classes(class_counts)))

    def forward(self, logits, targets, weight=None, features=None):
        if features is None:
            raise ValueError("the TAIL term needs the penultimate features (features=...)")
        margin = tail_feature_margin(features, targets, self.omega, self.is_tail)
        signed = margin if self.sign == "add" else -margin
        return self.base(logits, targets, weight) + self.lam * signed
