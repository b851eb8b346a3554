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
    train_counts = np.asarray(train_counts)
    num_classes = len(train_counts)
    confusion = confusion_matrix(y_true, y_pred, num_classes)
    per_class = per_class_accuracy(confusion)
    groups = class_groups(train_counts)
    correct, totals = np.diag(confusion), confusion.sum(axis=1)
    group_accuracy = {}
    for group in GROUPS:
        members = groups == group
        n = totals[members].sum()
        group_accuracy[group] = float(correct[members].sum() / n) if n else float("nan")
    return {
        "num_test": int(totals.sum()),
        "accuracy": float(correct.sum() / max(totals.sum(), 1)),
        "balanced_accuracy": float(np.nanmean(per_class)) if totals.any() else float("nan"),
        "per_class_accuracy": [float(a) for a in per_class],
        "group_accuracy": group_accuracy,
        "groups": [str(g) for g in groups],
    }


def evaluate_classifier(
    model_path,
    test_path,
    out_metrics,
    out_confusion,
    device: str = "auto",
    threads: int | None = None,
) -> dict:
    """Test-split metrics of a classifier ``model.pt``: metrics.json and confusion.csv."""
    import pandas as pd

    from advtail.data.arrays import load_image_set, write_json
    from advtail.errors import DataFileError
    from advtail.nets.checkpoints import load_classifier
    from advtail.nets.inference import predict_logits
    from advtail.training.runtime import resolve_device, set_threads

    set_threads(threads)
    torch_device = resolve_device(device)
    model, payload = load_classifier(model_path, torch_device)
    test = load_image_set(test_path)
    if test.num_classes != payload["arch"]["num_classes"]:
        raise DataFileError(
            model_path,
            f"has {payload['arch']['num_classes']} classes, the "
            f"test split {test_path} has {test.num_classes}",
        )
    predictions = predict_logits(model, test.images, device=torch_device).argmax(1).numpy()
    metrics = classification_metrics(test.labels, predictions, payload["class_counts"])
    metrics = {
        "classifier": payload.get("classifier"),
        "role": payload.get("role"),
        "dataset": payload.get("dataset"),
        "subset": payload.get("subset"),
        "arch": payload["arch"]["name"],
        "loss": payload["config"]["loss"]["name"],
        "reweighting": (payload["config"].get("reweighting") or {}).get("name", "none"),
        "selected_epoch": payload.get("selected_epoch"),
        "class_names": payload["class_names"],
        **metrics,
    }
    write_json(out_metrics, metrics)
    confusion = confusion_matrix(test.labels, predictions, test.num_classes)
    frame = pd.DataFrame(confusion, index=test.class_names, columns=test.class_names)
    frame.index.name = "true \\ predicted"
    frame.to_csv(out_confusion)
    return metrics
