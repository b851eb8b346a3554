"""REAT (Li et al., "Alleviating the Effect of Data Imbalance on Adversarial Training"):
the re-balancing loss (RBL) that PGD ascends during training, and the tail-feature
margin (TAIL, Algorithm 1) on penultimate features.

- RBL class weights (REAT Eq. 2, the effective number of the previous epoch's
  adversarial predictions): beta_k = (n_k - 1) / n_k, E_k = (1 - beta_k^a_k) /
  (1 - beta_k), w_k = 1 / (E_k + 1e-5) normalised to sum K; a_k is the number of
  training adversarial examples predicted as class k in the previous epoch, n_k in
  the first. PGD's inner loss is then ``attacks.losses.weighted_cross_entropy(w)``.
- TAIL class weights omega_k = sqrt(sum_j n_j / n_k) (smoothed inverse frequency); the
  tail classes are the last third (K = 10: 7, 8, 9; the code's ``K // 3 * 2 + 1`` on).
- TAIL, code form (:func:`tail_term_code`; the default, as GuanlinLee/REAT's
  ``loss_functions.REAT`` computes it, the form that made the paper's numbers): for each
  anchor i of a tail class, KL_i = (1 / (B D)) sum_j sum_d p_id (log p_id - log q_jd),
  p_i = softmax(f_i) detached (the target of ``KLDivLoss(size_average='none')``, whose
  truthy ``'none'`` means a mean over all B x D entries), q_j = softmax(f_j); then
  TAIL = (1 / A) sum_i KL_i (1 / B) sum_j s_ij W_ij with s_ij = -1 for a pair of the same
  class, +1 otherwise, W_ij = omega_{y_i} + omega_{y_j}. Added to BSL and minimised:
  each tail anchor pulls the batch's feature distributions toward itself, weighted by
  mean_j s_ij W_ij; no gradient reaches the anchor, and the term is bounded below by 0
  while most pairs differ in class.
- TAIL, paper form (:func:`tail_term_paper`; Sec. 4.2 and Algorithm 1's aim: tail
  features away from the other classes, each tail class gathered): the per-pair
  R = mean_i mean_j s_ij W_ij KL(p_i || p_j), maximised (loss - lambda R). Per pair and
  on raw features R is unbounded above (scaling the features sharpens every softmax)
  and diverged; here the features are L2-normalised and scaled by ``scale`` before the
  softmax, so every logit lies in [-scale, scale], every KL in [0, 2 scale] and R is
  bounded: it cannot diverge. This bound is ours, not the paper's.
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


def _anchor_indices(labels: torch.Tensor, is_tail: torch.Tensor) -> torch.Tensor:
    return is_tail.to(labels.device)[labels].nonzero().squeeze(1)


def _pair_weights(labels, anchors, omega, dtype) -> torch.Tensor:
    """s_ij W_ij for every anchor i and batch member j: (A, B)."""
    same = labels[anchors][:, None] == labels[None, :]
    sign = torch.where(same, -1.0, 1.0).to(dtype)
    omega = omega.to(labels.device, dtype)
    return sign * (omega[labels[anchors]][:, None] + omega[labels][None, :])


def _pairwise_kl(log_p_anchor: torch.Tensor, log_p: torch.Tensor) -> torch.Tensor:
    """KL(p_i || p_j) for every anchor i and batch member j: (A, B)."""
    p_anchor = log_p_anchor.exp()
    return (p_anchor * log_p_anchor).sum(1, keepdim=True) - p_anchor @ log_p.T


def tail_term_code(
    features: torch.Tensor, labels: torch.Tensor, omega: torch.Tensor, is_tail: torch.Tensor
) -> torch.Tensor:
    """TAIL as the authors' code computes it (module docstring; zero without a tail anchor)."""
    anchors = _anchor_indices(labels, is_tail)
    if len(anchors) == 0:
        return features.new_zeros(())
    log_p = F.log_softmax(features, dim=1)
    log_p_anchor = F.log_softmax(features[anchors].detach(), dim=1)  # the code's .detach()
    # KLDivLoss's mean over the B x D entries of the anchor's tiled target: one scalar KL_i
    kl = _pairwise_kl(log_p_anchor, log_p).mean(1) / features.shape[1]  # (A,)
    weights = _pair_weights(labels, anchors, omega, features.dtype)
    return (kl[:, None] * weights).sum(0).mean() / len(anchors)


def tail_term_paper(
    features: torch.Tensor,
    labels: torch.Tensor,
    omega: torch.Tensor,
    is_tail: torch.Tensor,
    scale: float = 10.0,
) -> torch.Tensor:
    """The paper's per-pair R on L2-normalised features x ``scale`` (bounded; to be
    maximised; zero without a tail anchor)."""
    anchors = _anchor_indices(labels, is_tail)
    if len(anchors) == 0:
        return features.new_zeros(())
    log_p = F.log_softmax(scale * F.normalize(features, dim=1), dim=1)
    kl = _pairwise_kl(log_p[anchors], log_p)
    return (_pair_weights(labels, anchors, omega, features.dtype) * kl).mean(1).mean()


TAIL_FORMS = ("code", "paper")


class TailFeatureMarginLoss(torch.nn.Module):
    """REAT's outer loss: a long-tail loss (REAT: balanced softmax) and TAIL on the
    penultimate features of the adversarial batch.

    ``form: code`` (the default): loss + lambda * TAIL, TAIL as the authors' code
    (:func:`tail_term_code`; the code has lambda 1). ``form: paper``: loss - lambda * R,
    R the bounded per-pair term (:func:`tail_term_paper`) maximised, as Sec. 4.2 words
    it.
    """

    uses_features = True

    def __init__(
        self,
        base: torch.nn.Module,
        class_counts,
        lam: float = 1.0,
        form: str = "code",
        scale: float = 10.0,
    ):
        super().__init__()
        if form not in TAIL_FORMS:
            raise ValueError(f"TAIL form must be one of {TAIL_FORMS}, got {form!r}")
        self.base, self.lam, self.form, self.scale = base, lam, form, scale
        omega = torch.tensor(tail_class_weights(class_counts), dtype=torch.float32)
        self.register_buffer("omega", omega)
        self.register_buffer("is_tail", torch.as_tensor(tail_classes(class_counts)))

    def tail_term(self, features, targets) -> torch.Tensor:
        """What is added to the base loss (before lambda)."""
        if self.form == "code":
            return tail_term_code(features, targets, self.omega, self.is_tail)
        return -tail_term_paper(features, targets, self.omega, self.is_tail, self.scale)

    def forward(self, logits, targets, weight=None, features=None):
        if features is None:
            raise ValueError("the TAIL term needs the penultimate features (features=...)")
        return self.base(logits, targets, weight) + self.lam * self.tail_term(features, targets)
