"""Rule fid_reference_stats: feature mean and covariance of a real split, cached."""

from __future__ import annotations

from advtail.data.arrays import load_image_set
from advtail.metrics.generation import feature_statistics
from advtail.metrics.inception import InceptionFeatures, inception_activations
from advtail.nets.classifiers import load_classifier
from advtail.nets.inference import features_and_logits
from advtail.stages.reference_statistics import save_reference_statistics
from advtail.training.runtime import resolve_device, set_threads


def compute_reference_statistics(
    split_path,
    out_path,
    backbone: str,
    annotator_path=None,
    inception_weights=None,
    device: str = "auto",
    threads: int | None = None,
    batch_size: int = 200,
) -> dict:
    """Feature mean and covariance of a real split on ``backbone`` (inception/annotator)."""
    set_threads(threads)
    torch_device = resolve_device(device)
    split = load_image_set(split_path)
    meta = {
        "backbone": backbone,
        "split": str(split_path),
        "split_sha256": split.meta["sha256"],
        "num_images": int(len(split.images)),
        "image_shape": [int(n) for n in split.images.shape[1:]],
    }
    if backbone == "inception":
        model = InceptionFeatures.from_file(inception_weights).to(torch_device)
        features = inception_activations(
            model, split.images, torch_device, batch_size, progress=True
        )
        meta["weights"] = str(inception_weights)
    elif backbone == "annotator":
        annotator, payload = load_classifier(annotator_path, torch_device)
        features, _ = features_and_logits(annotator, split.images, torch_device)
        meta["annotator"] = payload.get("classifier")
    else:
        raise ValueError(f"unknown FID backbone {backbone!r}")
    mu, sigma = feature_statistics(features)
    save_reference_statistics(out_path, mu, sigma, **meta)
    return meta
