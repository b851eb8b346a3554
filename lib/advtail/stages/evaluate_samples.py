"""Rule evaluate_samples: KL to uniform, class shares, FID and IS of a GAN's samples."""

from __future__ import annotations

from advtail.data.arrays import load_image_set, write_json
from advtail.errors import DataFileError
from advtail.metrics.generation import (
    class_shares,
    feature_statistics,
    frechet_distance,
    inception_score,
    kl_to_uniform,
    softmax,
)
from advtail.metrics.inception import InceptionFeatures, inception_activations
from advtail.nets.classifiers import check_classifier_fits, load_classifier
from advtail.nets.inference import features_and_logits
from advtail.stages.reference_statistics import load_reference_statistics
from advtail.training.runtime import resolve_device, set_threads
from advtail.workflow.logs import announce


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
    set_threads(threads)
    torch_device = resolve_device(device)
    samples = load_image_set(samples_path)
    mu_a, sigma_a, meta_a = load_reference_statistics(annotator_stats, "annotator")
    _check_samples(samples, meta_a, samples_path, annotator_stats)
    annotator, payload = load_classifier(annotator_path, torch_device)
    check_classifier_fits(annotator_path, payload, samples_path, samples)
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
        mu_i, sigma_i, meta_i = load_reference_statistics(inception_stats, "inception")
        _check_samples(samples, meta_i, samples_path, inception_stats)
        model = InceptionFeatures.from_file(inception_weights).to(torch_device)
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
    announce(
        "samples of GAN %s: FID %.3g (%s), IS %.3g, KL to uniform %.3f, label agreement %.3f",
        metrics["gan"],
        metrics["fid"],
        backbone,
        metrics["inception_score"],
        metrics["kl_uniform"],
        metrics["label_agreement"],
    )
    return metrics
