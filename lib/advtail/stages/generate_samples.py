"""Rule generate_samples: samples of one trained GAN, labelled, and a grid by class."""

from __future__ import annotations

import numpy as np
import torch

from advtail.data.arrays import ImageSet, save_image_set
from advtail.errors import DataFileError
from advtail.nets.classifiers import check_classifier_fits, load_classifier
from advtail.nets.gans import load_generator
from advtail.nets.inference import predict_logits
from advtail.nets.sampling import balanced_labels, generate_images, to_uint8_nhwc
from advtail.plots.grids import plot_class_grid
from advtail.training.runtime import resolve_device, set_threads


def generate_samples(
    generator_path,
    count: int,
    out_npz,
    out_grid,
    seed: int = 0,
    labeller_path=None,
    device: str = "auto",
    per_class: int = 10,
    threads: int | None = None,
) -> dict:
    """``count`` samples of a generator file as a canonical .npz, and a grid PNG.

    Labels: the conditioning label of a conditional generator (balanced over classes),
    else the prediction of the classifier at ``labeller_path`` (the in-loop classifier).
    """
    set_threads(threads)
    torch_device = resolve_device(device)
    generator, payload = load_generator(generator_path, torch_device)
    names = payload["class_names"]
    rng = torch.Generator().manual_seed(seed)
    if generator.conditional:
        labels = balanced_labels(count, len(names))
        images = to_uint8_nhwc(generate_images(generator, count, rng, torch_device, labels))
    else:
        if labeller_path is None:
            raise DataFileError(
                generator_path,
                "is unconditional: its samples need a "
                "classifier to label them (the in-loop classifier)",
            )
        images = to_uint8_nhwc(generate_images(generator, count, rng, torch_device))
        labeller, labeller_payload = load_classifier(labeller_path, torch_device)
        unlabelled = ImageSet(images, np.full(len(images), -1, dtype=np.int64), names)
        check_classifier_fits(labeller_path, labeller_payload, generator_path, unlabelled)
        labels = predict_logits(labeller, images, device=torch_device).argmax(1).numpy()
    sample_set = ImageSet(
        images,
        labels.astype(np.int64),
        names,
        meta={
            "dataset": payload.get("dataset"),
            "subset": payload.get("subset"),
            "gan": payload.get("gan"),
        },
    )
    sidecar = save_image_set(
        out_npz,
        sample_set,
        seed=seed,
        labels_from="conditioning" if generator.conditional else "in-loop classifier",
    )
    plot_class_grid(
        images,
        labels,
        names,
        out_grid,
        per_class=per_class,
        title=f"{payload.get('gan')}: samples by class",
    )
    return sidecar
