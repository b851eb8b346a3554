"""Metrics of generated samples: class shares, KL to uniform, Frechet distance of features.

KL to uniform follows the class-balancing GAN's code: the annotator's argmax histogram
p_hat and the uniform distribution each get eps = 1e-5 added, natural log.
The Frechet distance is Heusel et al.'s (2017) between Gaussians fitted to features:
||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2)).
"""

from __future__ import annotations

import numpy as np
from scipy import linalg

KL_EPS = 1e-5


def class_shares(labels, num_classes: int) -> np.ndarray:
    counts = np.bincount(np.asarray(labels), minlength=num_classes)[:num_classes]
    return counts / max(counts.sum(), 1)


def kl_to_uniform(labels, num_classes: int, eps: float = KL_EPS) -> float:
    """KL(p_hat || uniform) of the label histogram, natural log, eps added to both."""
    p = class_shares(labels, num_classes) + eps
    q = np.full(num_classes, 1.0 / num_classes) + eps
    return float(np.sum(p * np.log(p / q)))


def feature_statistics(features) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance (rows are samples), in float64."""
    features = np.asarray(features, dtype=np.float64)
    return features.mean(axis=0), np.cov(features, rowvar=False)


def frechet_distance(mu1, sigma1, mu2, sigma2, eps: float = 1e-6) -> float:
    """Frechet distance between N(mu1, sigma1) and N(mu2, sigma2)."""
    mu1, mu2 = np.atleast_1d(mu1), np.atleast_1d(mu2)
    sigma1, sigma2 = np.atleast_2d(sigma1), np.atleast_2d(sigma2)
    diff = mu1 - mu2
    covmean = linalg.sqrtm(sigma1.dot(sigma2))
    if not np.isfinite(covmean).all():
        # a singular product: regularise both covariances a little (as pytorch-fid does)
        offset = np.eye(sigma1.shape[0]) * eps
        covmean = linalg.sqrtm((sigma1 + offset).dot(sigma2 + offset))
    if np.iscomplexobj(covmean):
        covmean = covmean.real
    return float(diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean))


def evaluate_samples(
    samples_path,
    annotator_path,
    reference_path,
    out_json,
    device: str = "auto",
    threads: int | None = None,
) -> dict:
    """Class balance and annotator-feature FID of a GAN's samples: ``metrics.json``.

    The annotator labels the samples (KL to uniform, per-class shares). The FID is on
    the annotator's penultimate features against ``reference_path`` (the real test
    split) and is stored as ``fid_annotator`` with ``fid_backbone: annotator``; it is
    not an Inception FID.
    """
    from advtail.data.arrays import load_image_set, write_json
    from advtail.nets.checkpoints import load_classifier
    from advtail.nets.inference import features_and_predictions
    from advtail.training.runtime import resolve_device, set_threads

    set_threads(threads)
    torch_device = resolve_device(device)
    annotator, payload = load_classifier(annotator_path, torch_device)
    samples, reference = load_image_set(samples_path), load_image_set(reference_path)

    sample_features, predicted = features_and_predictions(annotator, samples.images, torch_device)
    reference_features, _ = features_and_predictions(annotator, reference.images, torch_device)
    num_classes = samples.num_classes
    metrics = {
        "gan": samples.meta.get("gan"),
        "dataset": samples.meta.get("dataset"),
        "subset": samples.meta.get("subset"),
        "num_samples": int(len(predicted)),
        "annotator": payload.get("classifier"),
        "kl_uniform": kl_to_uniform(predicted, num_classes),
        "class_shares": [float(x) for x in class_shares(predicted, num_classes)],
        "fid_annotator": frechet_distance(
            *feature_statistics(sample_features), *feature_statistics(reference_features)
        ),
        "fid_backbone": "annotator",
        "label_agreement": float((predicted == samples.labels).mean()),
        "class_names": samples.class_names,
    }
    write_json(out_json, metrics)
    return metrics
