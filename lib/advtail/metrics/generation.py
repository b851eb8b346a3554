"""Metrics of generated samples: class shares, KL to uniform, FID, Inception Score.

KL to uniform follows the class-balancing GAN's code: the annotator's argmax histogram
p_hat and the uniform distribution each get eps = 1e-5 added, natural log.
The Frechet distance is Heusel et al.'s (2017) between Gaussians fitted to features:
||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2)).
The Inception Score is Salimans et al.'s (2016): exp(E_x KL(p(y|x) || p(y))), mean and
standard deviation over 10 splits. Both use the backbone of :mod:`advtail.metrics.inception`
(pytorch-fid's InceptionV3, else the annotator, named in every output).
"""

from __future__ import annotations

import numpy as np
from scipy import linalg

from advtail.errors import DataFileError

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


def softmax(logits) -> np.ndarray:
    logits = np.asarray(logits, dtype=np.float64)
    z = np.exp(logits - logits.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


def inception_score(probabilities, splits: int = 10) -> tuple[float, float]:
    """exp(E_x KL(p(y|x) || p(y))) per split of the rows; (mean, std) over splits.

    Split i holds rows floor(i N / s) to floor((i + 1) N / s), as torch-fidelity and
    pytorch-gan-metrics split, so scores match theirs for every N (numpy's array_split
    would put the remainder into the first splits instead).
    """
    p = np.asarray(probabilities, dtype=np.float64)
    n, s = len(p), min(splits, len(p))
    scores = []
    for part in (p[i * n // s : (i + 1) * n // s] for i in range(s)):
        marginal = part.mean(axis=0, keepdims=True)
        kl = np.sum(part * (np.log(part + 1e-12) - np.log(marginal + 1e-12)), axis=1)
        scores.append(float(np.exp(kl.mean())))
    return float(np.mean(scores)), float(np.std(scores))


# ---------------------------------------------------------------- reference statistics
def save_reference_statistics(path, mu, sigma, **meta) -> None:
    """Mean and covariance of a real split's features, with what they were computed from."""
    import json

    from advtail.data.arrays import write_npz

    mu, sigma = np.asarray(mu, dtype=np.float64), np.asarray(sigma, dtype=np.float64)
    write_npz(path, {"mu": mu, "sigma": sigma, "meta": np.array(json.dumps(meta, sort_keys=True))})


def load_reference_statistics(path, backbone: str | None = None):
    """(mu, sigma, meta) of a reference-statistics file; clear errors for bad files."""
    import json
    import zipfile
    from pathlib import Path

    path = Path(path)
    if not path.is_file():
        raise DataFileError(
            path,
            "reference statistics not found; the fid_reference_stats rule writes them "
            f"(snakemake --cores all {path})",
        )
    try:
        with np.load(path, allow_pickle=False) as data:
            mu, sigma = data["mu"], data["sigma"]
            meta = json.loads(str(data["meta"].reshape(-1)[0]))  # stored as a 1-element array
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as err:
        raise DataFileError(
            path, f"not a reference-statistics file (mu, sigma, meta): {err}"
        ) from None
    if mu.ndim != 1 or sigma.shape != (len(mu), len(mu)):
        raise DataFileError(
            path, f"mu of shape {mu.shape} and sigma of shape {sigma.shape} do not match"
        )
    if backbone is not None and meta.get("backbone") != backbone:
        raise DataFileError(
            path, f"statistics of backbone {meta.get('backbone')!r}, expected {backbone!r}"
        )
    return mu, sigma, meta


def _inception(weights, device):
    from advtail.metrics.inception import InceptionFeatures

    return InceptionFeatures.from_file(weights).to(device)


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
    from advtail.data.arrays import load_image_set
    from advtail.nets.checkpoints import load_classifier
    from advtail.nets.inference import features_and_logits
    from advtail.training.runtime import resolve_device, set_threads

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
        from advtail.metrics.inception import inception_activations

        model = _inception(inception_weights, torch_device)
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


def _check_samples(samples, reference_meta: dict, samples_path, stats_path) -> None:
    """Generated images must have the real split's size and channels."""
    if len(samples.images) < 2:
        raise DataFileError(samples_path, "needs at least 2 samples for a covariance")
    size = samples.images.shape[1:]
    expected = reference_meta.get("image_shape")
    if expected is not None and tuple(size) != tuple(expected):
        raise DataFileError(
            samples_path,
            f"images of shape {tuple(size)}, but the reference statistics {stats_path} are of "
            f"images of shape {tuple(expected)}",
        )


def evaluate_samples(
    samples_path,
    annotator_path,
    annotator_stats,
    out_json,
    inception_weights=None,
    inception_stats=None,
    device: str = "auto",
    threads: int | None = None,
    batch_size: int = 200,
) -> dict:
    """Class balance, FID and IS of a GAN's samples: ``metrics.json``.

    The annotator labels the samples (KL to uniform, per-class shares, agreement with the
    generator's labels) and gives ``fid_annotator`` against ``annotator_stats``. With
    ``inception_weights`` (and ``inception_stats``), ``fid_inception`` and the Inception
    Score come from pytorch-fid's network; without, IS is on the annotator's softmax.
    ``fid`` and ``inception_score`` are the headline numbers of ``fid_backbone``.
    """
    from advtail.data.arrays import load_image_set, write_json
    from advtail.nets.checkpoints import load_classifier
    from advtail.nets.inference import features_and_logits
    from advtail.training.runtime import resolve_device, set_threads

    set_threads(threads)
    torch_device = resolve_device(device)
    samples = load_image_set(samples_path)
    mu_a, sigma_a, meta_a = load_reference_statistics(annotator_stats, "annotator")
    _check_samples(samples, meta_a, samples_path, annotator_stats)
    annotator, payload = load_classifier(annotator_path, torch_device)
    if payload["arch"]["num_classes"] != samples.num_classes:
        raise DataFileError(
            annotator_path,
            f"has {payload['arch']['num_classes']} classes, the samples {samples_path} "
            f"have {samples.num_classes} (an annotator of another dataset?)",
        )
    features, logits = features_and_logits(annotator, samples.images, torch_device)
    if meta_a.get("annotator") != payload.get("classifier"):
        raise DataFileError(
            annotator_stats,
            f"statistics of annotator {meta_a.get('annotator')!r}, but the samples are "
            f"evaluated by {payload.get('classifier')!r} ({annotator_path})",
        )
    if features.shape[1] != len(mu_a):
        raise DataFileError(
            annotator_stats,
            f"{len(mu_a)}-d statistics, but annotator {annotator_path} has "
            f"{features.shape[1]}-d features (statistics of another annotator?)",
        )
    predicted = logits.argmax(1)
    num_classes = samples.num_classes
    metrics = {
        "gan": samples.meta.get("gan"),
        "dataset": samples.meta.get("dataset"),
        "subset": samples.meta.get("subset"),
        "num_samples": int(len(predicted)),
        "annotator": payload.get("classifier"),
        "kl_uniform": kl_to_uniform(predicted, num_classes),
        "class_shares": [float(x) for x in class_shares(predicted, num_classes)],
        "label_agreement": float((predicted == samples.labels).mean()),
        "fid_annotator": frechet_distance(*feature_statistics(features), mu_a, sigma_a),
        "is_annotator": inception_score(softmax(logits))[0],
        "class_names": samples.class_names,
    }
    if inception_weights is not None:
        from advtail.metrics.inception import inception_activations

        mu_i, sigma_i, meta_i = load_reference_statistics(inception_stats, "inception")
        _check_samples(samples, meta_i, samples_path, inception_stats)
        model = _inception(inception_weights, torch_device)
        pool, inception_logits = inception_activations(
            model, samples.images, torch_device, batch_size, with_logits=True, progress=True
        )
        is_mean, is_std = inception_score(softmax(inception_logits))
        metrics |= {
            "fid_inception": frechet_distance(*feature_statistics(pool), mu_i, sigma_i),
            "is_inception": is_mean,
            "is_inception_std": is_std,
        }
    backbone = "inception" if inception_weights is not None else "annotator"
    metrics |= {
        "fid": metrics[f"fid_{backbone}"],
        "inception_score": metrics[f"is_{backbone}"],
        "fid_backbone": backbone,
    }
    write_json(out_json, metrics)
    return metrics
