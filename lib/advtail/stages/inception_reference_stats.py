"""Rule inception_reference_stats: pytorch-fid Inception pool features' mean and
covariance of a real split, cached."""

from __future__ import annotations

from advtail.data.arrays import load_image_set
from advtail.metrics.generation import feature_statistics
from advtail.metrics.inception import InceptionFeatures, inception_activations
from advtail.stages.fid_reference_stats import split_meta
from advtail.stages.reference_statistics import save_reference_statistics
from advtail.training.runtime import resolve_device, set_threads


def inception_reference_statistics(
    split_path,
    out_path,
    inception_weights,
    device: str = "auto",
    threads: int | None = None,
    batch_size: int = 200,
) -> dict:
    """Mean and covariance of InceptionV3's 2048-d pool features on a real split."""
    set_threads(threads)
    torch_device = resolve_device(device)
    split = load_image_set(split_path)
    model = InceptionFeatures.from_file(inception_weights).to(torch_device)
    features = inception_activations(model, split.images, torch_device, batch_size, progress=True)
    meta = split_meta(split, split_path, "inception") | {"weights": str(inception_weights)}
    save_reference_statistics(out_path, *feature_statistics(features), **meta)
    return meta
