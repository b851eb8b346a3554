"""Rule fid_reference_stats: the annotator's feature mean and covariance of a real
split, cached. (Inception's are :mod:`advtail.stages.inception_reference_stats`, a rule
of its own, so an edit of the Inception code reruns no GAN validated on these.)"""

from __future__ import annotations

import logging

from advtail.data.arrays import ImageSet, load_image_set
from advtail.metrics.generation import feature_statistics
from advtail.nets.classifiers import check_classifier_fits, load_classifier
from advtail.nets.inference import features_and_logits
from advtail.stages.reference_statistics import save_reference_statistics
from advtail.training.runtime import resolve_device, set_threads

log = logging.getLogger(__name__)


def split_meta(split: ImageSet, split_path, backbone: str) -> dict:
    """What reference statistics were computed from (stored in the file)."""
    return {
        "backbone": backbone,
        "split": str(split_path),
        "split_sha256": split.meta["sha256"],
        "num_images": int(len(split.images)),
        "image_shape": [int(n) for n in split.images.shape[1:]],
    }


def annotator_reference_statistics(
    split_path, out_path, annotator_path, device: str = "auto", threads: int | None = None
) -> dict:
    """Mean and covariance of the annotator's penultimate features on a real split."""
    set_threads(threads)
    torch_device = resolve_device(device)
    split = load_image_set(split_path)
    annotator, payload = load_classifier(annotator_path, torch_device)
    check_classifier_fits(annotator_path, payload, split_path, split)
    features, _ = features_and_logits(annotator, split.images, torch_device)
    meta = split_meta(split, split_path, "annotator") | {"annotator": payload.get("classifier")}
    save_reference_statistics(out_path, *feature_statistics(features), **meta)
    log.info(
        "%s: mean and covariance of annotator %s's %d-d features over %d images, to %s",
        split_path,
        meta["annotator"],
        features.shape[1],
        meta["num_images"],
        out_path,
    )
    return meta
