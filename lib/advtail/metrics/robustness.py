"""Robust accuracy per attack: overall, balanced, per class and per head/body/tail group,
and where the adversarial examples land (the class counts of their predictions, REAT
Fig. 1)."""

from __future__ import annotations

import numpy as np

from advtail.metrics.classification import accuracy_metrics


def robust_flags_of(y_true, clean_pred, adv_pred) -> np.ndarray:
    """Robust images: classified correctly both clean and attacked (AutoAttack's robust
    accuracy: an image the model gets wrong needs no attack)."""
    y_true = np.asarray(y_true)
    return (np.asarray(clean_pred) == y_true) & (np.asarray(adv_pred) == y_true)


def robust_metrics(y_true, clean_pred, adv_pred, train_counts) -> dict:
    """Metrics of one attack over the images it attacked (numpy label arrays), with
    ``predicted_counts``, how many adversarial examples the model puts in each class, and
    ``true_counts``, how many of the attacked images each class has."""
    metrics = accuracy_metrics(y_true, robust_flags_of(y_true, clean_pred, adv_pred), train_counts)
    for key, labels in (("predicted_counts", adv_pred), ("true_counts", y_true)):
        metrics[key] = [
            int(c) for c in np.bincount(np.asarray(labels), minlength=len(train_counts))
        ]
    return metrics
