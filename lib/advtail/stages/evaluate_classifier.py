"""Rule evaluate_classifier: test-split metrics and confusion matrix of one classifier."""

from __future__ import annotations

import pandas as pd

from advtail.data.arrays import load_image_set, write_json
from advtail.metrics.classification import classification_metrics, confusion_matrix
from advtail.nets.classifiers import check_classifier_fits, load_classifier
from advtail.nets.inference import predict_logits
from advtail.training.runtime import resolve_device, set_threads
from advtail.workflow.logs import announce


def evaluate_classifier(
    model_path,
    test_path,
    out_metrics,
    out_confusion,
    device: str = "auto",
    threads: int | None = None,
    headline: bool = True,
) -> dict:
    """Test-split metrics of a classifier ``model.pt``: metrics.json and confusion.csv
    (``headline``: announce them on the console)."""
    set_threads(threads)
    torch_device = resolve_device(device)
    model, payload = load_classifier(model_path, torch_device)
    test = load_image_set(test_path)
    check_classifier_fits(model_path, payload, test_path, test)
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
    if headline:
        announce(
            "classifier %s on the test split: accuracy %.3f, balanced %.3f, %s",
            metrics["classifier"],
            metrics["accuracy"],
            metrics["balanced_accuracy"],
            ", ".join(f"{g} {v:.3f}" for g, v in metrics["group_accuracy"].items()),
        )
    confusion = confusion_matrix(test.labels, predictions, test.num_classes)
    frame = pd.DataFrame(confusion, index=test.class_names, columns=test.class_names)
    frame.index.name = "true \\ predicted"
    frame.to_csv(out_confusion)
    return metrics
