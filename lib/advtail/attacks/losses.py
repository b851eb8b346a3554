"""Inner losses of the attacks: what the adversary ascends.

Each maps (logits, labels) to one loss per sample, summed by the attack, so that a
sample's gradient does not depend on the batch it is in.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

InnerLoss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def cross_entropy(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(logits, y, reduction="none")


def cw_margin(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Carlini-Wagner margin max_{j != y} z_j - z_y: PGD on it is CW-inf (reference
    notes, "PGD"); positive once the sample is misclassified."""
    true = logits.gather(1, y[:, None]).squeeze(1)
    others = logits.masked_fill(F.one_hot(y, logits.shape[1]).bool(), float("-inf"))
    return others.max(1).values - true


def weighted_cross_entropy(weights: torch.Tensor) -> InnerLoss:
    """Class-weighted cross-entropy, w_y * CE: REAT's re-balancing loss (RBL) as the
    attack's inner loss (REAT; the weights w_k of the reference notes)."""

    def loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        w = weights.to(logits.device, logits.dtype)
        return w[y] * F.cross_entropy(logits, y, reduction="none")

    return loss


INNER_LOSSES: dict[str, InnerLoss] = {"ce": cross_entropy, "cw": cw_margin}
