"""Rule sample_prior_gan: the crafting images of a UAP prior GAN, drawn evenly from the
generators of its last cycles (CBGAN appendix A.7) and labelled by the in-loop victim."""

from __future__ import annotations

import numpy as np
import torch

from advtail.data.arrays import ImageSet, save_image_set
from advtail.errors import DataFileError
from advtail.metrics.uaps import class_coverage
from advtail.nets.classifiers import load_classifier
from advtail.nets.files import read_model_file
from advtail.nets.gans import build_generator
from advtail.nets.inference import predict_logits
from advtail.nets.sampling import generate_images, to_uint8_nhwc
from advtail.training.runtime import resolve_device, set_threads


def sample_prior_gan(
    snapshots_path, victim_path, count: int, seed: int, out_samples, device="auto", threads=None
) -> dict:
    """``count`` samples spread evenly over the prior GAN's last-cycle generators
    (CBGAN A.7), labelled by the victim's prediction (so their class counts are the
    coverage of the victim's classes)."""
    set_threads(threads)
    torch_device = resolve_device(device)
    payload = read_model_file(snapshots_path, "generator_snapshots")
    snapshots = payload.get("snapshots") or []
    if not snapshots:
        raise DataFileError(
            snapshots_path, "holds no generator snapshots (config key uaps.prior_gan.snapshots)"
        )
    victim, victim_payload = load_classifier(victim_path, torch_device)
    rng = torch.Generator().manual_seed(seed)
    shares = np.full(len(snapshots), count // len(snapshots))
    shares[: count % len(snapshots)] += 1
    parts = []
    for snapshot, n in zip(snapshots, shares, strict=True):
        generator = build_generator(payload["arch"])
        generator.load_state_dict(snapshot["state_dict"])
        parts.append(
            to_uint8_nhwc(generate_images(generator.to(torch_device), int(n), rng, torch_device))
        )
    images = np.concatenate(parts)
    labels = predict_logits(victim, images, device=torch_device).argmax(1).numpy()
    names = victim_payload["class_names"]
    sample_set = ImageSet(
        images, labels.astype(np.int64), names, meta={"prior_gan": payload.get("gan")}
    )
    coverage = class_coverage(labels, len(names))
    return save_image_set(
        out_samples,
        sample_set,
        snapshot_steps=[int(s["step"]) for s in snapshots],
        labelled_by=str(victim_path),
        seed=seed,
        **coverage,
    )
