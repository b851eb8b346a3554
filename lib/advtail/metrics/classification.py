"""Accuracy, balanced accuracy, per-class and head/body/tail accuracy, confusion matrix.

Groups follow REAT: thirds of the classes ranked by training-set size
(:func:`advtail.data.profiles.class_groups`), so they come from the counts the
classifier was trained on, not from the (balanced) test set.
"""

from __future__ import annotations

import numpy as np

from advtail.data.profiles import class_groups

GROUPS = ("head", "body", "tail")


def confusion_matrix(y_true, y_pred, num_classes: int) -> np.ndarray:
    """counts[i, j]: test images of class i predicted as class j."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    flat = np.bincount(y_true * num_classes + y_pred, minlength=num_classes**2)
    return flat.reshape(num_classes, num_classes)


def per_class_accuracy(confusion: np.ndarray) -> np.ndarray:
    """Recall of each class; NaN for a class without test images."""
    totals = confusion.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(totals > 0, np.diag(confusion) / totals, np.nan)


def classification_metrics(y_true, y_pred, train_counts) -> dict:
    """Accuracy, balanced accuracy, per-class and per-group accuracy as plain numbers."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    return accuracy_metrics(y_true, y_pred == y_true, train_counts)


def accuracy_metrics(y_true, correct, train_counts) -> dict:
    """The metrics of :func:`classification_metrics` from per-image flags ``correct``
    (classified correctly; under attack, robust)."""
    train_counts = np.asarray(train_counts)
    num_classes = len(train_counts)
    y_true, correct = np.asarray(y_true), np.asarray(correct, dtype=bool)
    totals = np.bincount(y_true, minlength=num_classes)
    hits = np.bincount(y_true[correct], minlength=num_classes)
    with np.errstate(invalid="ignore", divide="ignore"):
        per_class = np.where(totals > 0, hits / totals, np.nan)
    groups = class_groups(train_counts)
    group_accuracy = {}
    for group in GROUPS:
        members = groups == group
        n = totals[members].sum()
        group_accuracy[group] = float(hits[members].sum() / n) if n else float("nan")
    return {
        "num_test": int(totals.sum()),
        "accuracy": float(hits.sum() / max(totals.sum(), 1)),
        "balanced_accuracy": float(np.nanmean(per_class)) if totals.any() else float("nan"),
        "per_class_accuracy": [float(a) for a in per_class],
        "group_accuracy": group_accuracy,
        "groups": [str(g) for g in groups],
    }
