"""Adversarial training's examples: what the classifier trainer trains on in place of
the clean batch.

- PGD-AT (Madry et al. 2018): each batch is replaced by PGD examples made with the
  model in eval mode (batch norm on its running statistics), the attack ascending the
  cross-entropy; any outer loss and re-weighting of the trainer applies to them.
- REAT's re-balancing loss (RBL, Li et al.; reference notes "REAT"): the attack ascends
  a class-weighted cross-entropy whose weights come from the previous epoch's
  adversarial predictions (:func:`advtail.losses.reat.rbl_class_weights`); the first
  epoch uses the training counts. ``effective_number`` keeps the first epoch's weights
  throughout: REAT's "ENR" ablation (Table 2), which balances on the clean labels.
  As defined (a class weight on each sample's cross-entropy, in the paper and its code)
  the weight is a positive factor per sample, which neither L-inf PGD's sign step nor
  L2 PGD's normalised step sees: the examples are those of PGD on plain cross-entropy,
  up to rounding (a test shows it; the README reports what that means for REAT).

The counts of adversarial predictions per class come from the training forward pass
the trainer makes anyway (its logits on the adversarial batch), as the authors' code
counts them: RBL adds no forward pass to PGD-AT.
"""

from __future__ import annotations

import numpy as np
import torch

from advtail.attacks.budgets import to_model_scale
from advtail.attacks.gradient import FGSM, PGD
from advtail.attacks.losses import cross_entropy, cw_margin, weighted_cross_entropy
from advtail.attacks.names import INNER_WEIGHTS, WEIGHTED_INNER_LOSSES
from advtail.losses.reat import rbl_class_weights
from advtail.metrics.generation import counts_kl_to_uniform

TRAINING_ATTACKS = ("pgd", "fgsm")
INNER_LOSSES = {"ce": cross_entropy, "cw": cw_margin}
# inner losses that take per-class weights (RBL's and ENR's)


class AdversarialExamples:
    """Makes each training batch's adversarial examples and counts their predictions.

    ``cfg`` is a classifier's validated ``adversarial`` block: attack, norm, eps and
    step_size (on the [0, 1] scale), steps, random_start, inner_loss {name, weights}.
    """

    def __init__(self, cfg: dict, train_counts):
        self.cfg = cfg
        self.train_counts = np.asarray(train_counts)
        self.num_classes = len(self.train_counts)
        inner = cfg.get("inner_loss", {})
        self.inner_name = inner.get("name", "ce")
        self.weights_name = inner.get("weights", "none")
        for what, value, known in (
            ("attack", cfg["attack"], TRAINING_ATTACKS),
            ("inner loss", self.inner_name, tuple(INNER_LOSSES)),
            ("inner weights", self.weights_name, INNER_WEIGHTS),
        ):
            if value not in known:
                raise ValueError(f"unknown {what} {value!r}; expected one of {known}")
        if self.weights_name != "none" and self.inner_name not in WEIGHTED_INNER_LOSSES:
            raise ValueError(
                f"inner loss {self.inner_name!r} cannot take class weights "
                f"({self.weights_name}); use one of {sorted(WEIGHTED_INNER_LOSSES)}"
            )
        self.eps = to_model_scale(cfg["eps"])
        self.attack = self._build_attack(INNER_LOSSES[self.inner_name])
        self.previous_counts = None  # a_k of the last finished epoch (None: none yet)
        self.counts = np.zeros(self.num_classes, dtype=np.int64)
        self.inner_weights = None

    def _build_attack(self, loss):
        cfg = self.cfg
        if cfg["attack"] == "fgsm":
            return FGSM(self.eps, loss=loss, norm=cfg.get("norm", "linf"))
        return PGD(
            self.eps,
            cfg["steps"],
            to_model_scale(cfg["step_size"]),
            cfg.get("norm", "linf"),
            random_start=cfg.get("random_start", True),
            loss=loss,
        )

    def start_epoch(self, device) -> None:
        """Set the inner loss's class weights for the epoch and reset the counts."""
        if self.weights_name == "none":
            self.inner_weights = None
        else:
            previous = self.previous_counts if self.weights_name == "rbl" else None
            self.inner_weights = rbl_class_weights(self.train_counts, previous)
            weights = torch.tensor(self.inner_weights, dtype=torch.float32, device=device)
            self.attack.loss = weighted_cross_entropy(weights)
        self.counts = np.zeros(self.num_classes, dtype=np.int64)

    def __call__(self, model, x, y, generator) -> torch.Tensor:
        return self.attack(model, x, y, generator)

    def observe(self, logits: torch.Tensor, y: torch.Tensor) -> None:
        """Count the training forward pass's predictions on the adversarial batch."""
        predicted = logits.detach().argmax(1)
        self.counts += np.bincount(predicted.cpu().numpy(), minlength=self.num_classes)

    def end_epoch(self) -> dict:
        """The epoch's log entries; its counts become the next epoch's a_k."""
        self.previous_counts = self.counts.copy()
        row = {
            "adversarial_prediction_kl": counts_kl_to_uniform(self.counts),
        }
        row.update({f"adversarial_predicted_{k}": int(c) for k, c in enumerate(self.counts)})
        if self.inner_weights is not None:
            row.update({f"inner_weight_{k}": float(w) for k, w in enumerate(self.inner_weights)})
        return row

    def state_dict(self) -> dict:
        previous = None if self.previous_counts is None else self.previous_counts.tolist()
        return {"previous_counts": previous}

    def load_state_dict(self, state: dict) -> None:
        previous = state["previous_counts"]
        if previous is not None and len(previous) != self.num_classes:
            raise ValueError(f"{len(previous)} adversarial counts for {self.num_classes} classes")
        self.previous_counts = None if previous is None else np.asarray(previous, dtype=np.int64)


def validation_attack(cfg: dict) -> PGD:
    """The PGD that scores the kept model on the validation split: the training
    budget, ``validation_steps`` steps of eps / 4 with a random start, on cross-entropy."""
    eps = to_model_scale(cfg["eps"])
    return PGD(eps, cfg.get("validation_steps", 10), eps / 4, cfg.get("norm", "linf"))
