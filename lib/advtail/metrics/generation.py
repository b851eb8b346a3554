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

KL_EPS = 1e-5


def class_shares(labels, num_classes: int) -> np.ndarray:
    counts = np.bincount(np.asarray(labels), minlength=num_classes)[:num_classes]
    return counts / max(counts.sum(), 1)


def kl_to_uniform(labels, num_classes: int, eps: float = KL_EPS) -> float:
    """KL(p_hat || uniform) of the label histogram, natural log, eps added to both."""
    return counts_kl_to_uniform(
        np.bincount(np.asarray(labels), minlength=num_classes)[:num_classes], eps
    )


def counts_kl_to_uniform(counts, eps: float = KL_EPS) -> float:
    """KL(p_hat || uniform) of per-class ``counts`` (p_hat = counts / total), as
    :func:`kl_to_uniform`; also REAT's measure of how unevenly adversarial examples are
    predicted."""
    counts = np.asarray(counts, dtype=np.float64)
    p = counts / max(counts.sum(), 1.0) + eps
    q = np.full(len(counts), 1.0 / len(counts)) + eps
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
