"""What a universal perturbation does to a victim: fooling rate (the share of
predictions that change, GAP and CBGAN section 4.3), accuracy under it, both per class
and per head/body/tail group; and how many of the victim's classes a crafting set
covers (CBGAN Table 5)."""

from __future__ import annotations

import numpy as np

from advtail.metrics.classification import GROUPS, accuracy_metrics


def fooling_metrics(y_true, clean_pred, perturbed_pred, train_counts) -> dict:
    """Fooling rate overall, per true class and per group; accuracy clean and perturbed."""
    y_true, clean_pred, perturbed_pred = (
        np.asarray(a) for a in (y_true, clean_pred, perturbed_pred)
    )
    changed = clean_pred != perturbed_pred
    clean = accuracy_metrics(y_true, clean_pred == y_true, train_counts)
    perturbed = accuracy_metrics(y_true, perturbed_pred == y_true, train_counts)
    # accuracy_metrics' per-class share of "correct" flags is the per-class fooling rate
    fooled = accuracy_metrics(y_true, changed, train_counts)
    return {
        "num_test": int(len(y_true)),
        "fooling_rate": float(changed.mean()) if len(changed) else float("nan"),
        "clean_accuracy": clean["accuracy"],
        "accuracy": perturbed["accuracy"],
        "balanced_accuracy": perturbed["balanced_accuracy"],
        "per_class_fooling_rate": fooled["per_class_accuracy"],
        "per_class_accuracy": perturbed["per_class_accuracy"],
        "group_fooling_rate": {g: fooled["group_accuracy"][g] for g in GROUPS},
        "group_accuracy": perturbed["group_accuracy"],
        "predicted_counts": [
            int(c) for c in np.bincount(perturbed_pred, minlength=len(train_counts))
        ],
    }


def class_coverage(predictions, num_classes: int) -> dict:
    """The victim's classes among its predictions on a crafting set: how many distinct
    ones (CBGAN Table 5's count of labels), and the count of each."""
    counts = np.bincount(np.asarray(predictions, dtype=np.int64), minlength=num_classes)
    return {"classes_covered": int((counts > 0).sum()), "class_counts": [int(c) for c in counts]}
