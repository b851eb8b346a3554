"""Rules craft_uap_* (CBGAN section 4.3): one universal perturbation per method and
victim, and the perturbation file's reader."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np

from advtail.attacks.budgets import budget_value, to_model_scale
from advtail.attacks.universal import (
    craft_generative_perturbation,
    deepfool_universal_perturbation,
    random_sign_perturbation,
)
from advtail.data.arrays import (
    atomic_write_bytes,
    file_sha256,
    load_image_set,
    write_json,
)
from advtail.errors import ConfigError, DataFileError
from advtail.metrics.uaps import class_coverage
from advtail.nets.classifiers import load_classifier
from advtail.nets.inference import predict_logits
from advtail.training.runtime import resolve_device, seed_everything, set_threads
from advtail.workflow.logs import announce

LOG = logging.getLogger(__name__)

# the methods of the comparison, in the order tables and figures show them


def _save_perturbation(path, delta01: np.ndarray) -> None:
    atomic_write_bytes(path, lambda handle: np.save(handle, delta01.astype(np.float32)))


def load_perturbation(
    path, image_size: int, channels: int, eps01: float | None = None
) -> np.ndarray:
    """A perturbation file (float32 H x W x C, [0, 1] scale), checked against the victim's
    input (and the budget it was crafted at); errors name the file."""
    try:
        delta = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as err:
        raise DataFileError(path, f"not a perturbation array ({err})") from None
    if not np.issubdtype(delta.dtype, np.floating):
        raise DataFileError(path, f"perturbation of dtype {delta.dtype}; expected float32")
    delta = delta.astype(np.float32, copy=False)
    expected = (image_size, image_size, channels)
    if delta.shape != expected:
        raise DataFileError(
            path, f"perturbation of shape {delta.shape}; the victim takes {expected} (H, W, C)"
        )
    if not np.isfinite(delta).all():
        raise DataFileError(path, "perturbation has non-finite values")
    # float32 tolerance: the array is its own evidence, whatever a sidecar claims
    if eps01 is not None and np.abs(delta).max() > eps01 * (1 + 1e-4):
        raise DataFileError(
            path,
            f"perturbation exceeds the budget {eps01:.4f} (L-inf {np.abs(delta).max():.4f}, "
            f"{np.abs(delta).max() * 255:.1f}/255)",
        )
    return delta


def craft_uap(
    method: str,
    cfg: dict,
    victim_path,
    out_perturbation,
    out_meta,
    crafting_path=None,
    seed: int = 0,
    device="auto",
    threads=None,
) -> dict:
    """One universal perturbation of the victim at ``victim_path``.

    ``method``: ``gap`` (GAP on the images of ``crafting_path``), ``deepfool``
    (Moosavi-Dezfooli's algorithm on them) or ``random`` (sign noise, no images).
    ``cfg``: the ``uaps`` settings (eps, gap, deepfool). Writes the perturbation as a
    float32 H x W x C array on the [0, 1] pixel scale, and its meta: the crafting set's
    coverage of the victim's classes, the crafting history, the time taken.
    """
    began = time.perf_counter()
    set_threads(threads)
    torch_device = resolve_device(device)
    seed_everything(seed)
    victim, payload = load_classifier(victim_path, torch_device)
    eps01 = budget_value(cfg["eps"])
    eps = to_model_scale(cfg["eps"])
    channels, size = int(payload["arch"]["channels"]), int(payload["image_size"])
    meta = {"method": method, "victim": str(victim_path), "eps": cfg["eps"], "seed": seed}
    history: list[dict] = []
    if method == "random":
        delta = random_sign_perturbation((1, channels, size, size), eps, seed)
    else:
        crafting = load_image_set(crafting_path)
        shape = crafting.images.shape
        if (shape[1], shape[3]) != (size, channels):
            raise DataFileError(
                crafting_path,
                f"images of size {shape[1]} with {shape[3]} channels; "
                f"victim {victim_path} takes {size} and {channels}",
            )
        predicted = predict_logits(victim, crafting.images, device=torch_device).argmax(1).numpy()
        meta |= {"crafting_set": str(crafting_path), "crafting_sha256": file_sha256(crafting_path)}
        meta |= {"crafting_images": int(len(crafting.images))}
        if crafting.meta.get("labelled_by"):  # a prior GAN's samples: whose loop it was
            meta["prior_in_loop"] = Path(crafting.meta["labelled_by"]).parent.name
        meta |= class_coverage(predicted, int(payload["arch"]["num_classes"]))

        def log(row: dict) -> None:  # progress
            LOG.info("%s: %s", method, {k: round(v, 4) for k, v in row.items()})

        if method == "gap":
            gap = cfg["gap"]
            classes = int(payload["arch"]["num_classes"])
            if gap.get("target") is not None and gap["target"] >= classes:
                raise ConfigError(
                    "uaps.gap.target",
                    f"expected a class of victim {victim_path} (0 to {classes - 1})",
                    gap["target"],
                )
            delta, history = craft_generative_perturbation(
                victim,
                crafting.images,
                eps,
                steps=gap["steps"],
                batch_size=gap["batch_size"],
                lr=gap["lr"],
                width=gap["width"],
                blocks=gap["blocks"],
                target_class=gap.get("target"),
                skip_gradient_alpha=gap.get("skip_gradient"),
                seed=seed,
                device=torch_device,
                on_log=log,
            )
        elif method == "deepfool":
            deepfool = cfg["deepfool"]
            images = crafting.images
            if deepfool.get("images") and deepfool["images"] >= len(images):
                LOG.info(  # the rule: at most the crafting set
                    "deepfool.images %d >= the %d crafting images: all of them are used",
                    deepfool["images"],
                    len(images),
                )
            if deepfool.get("images") and len(images) > deepfool["images"]:
                pick = np.random.default_rng([seed, 11]).choice(
                    len(images), deepfool["images"], replace=False
                )
                images = images[np.sort(pick)]
            delta, history = deepfool_universal_perturbation(
                victim,
                images,
                eps,
                norm="linf",
                target_fooling_rate=deepfool["target_fooling_rate"],
                max_epochs=deepfool["max_epochs"],
                overshoot=deepfool["overshoot"],
                max_iter=deepfool["max_iter"],
                seed=seed,
                device=torch_device,
                on_log=log,
            )
        else:
            raise ValueError(f"unknown UAP method {method!r}; expected gap, deepfool or random")
    delta01 = (delta[0].permute(1, 2, 0).numpy() / 2.0).clip(-eps01, eps01)  # [0, 1] scale, HWC
    _save_perturbation(out_perturbation, delta01)
    meta |= {
        "history": history,
        "linf": float(np.abs(delta01).max()),
        "wall_time_s": round(time.perf_counter() - began, 3),
    }
    write_json(out_meta, meta)
    announce(
        "universal perturbation %s (%s) against %s: L-inf %.1f/255 (%.0f s)",
        Path(out_perturbation).parent.name,  # the rule's method: data_free, prior_images, ...
        method,
        Path(victim_path).parent.name,
        meta["linf"] * 255,
        meta["wall_time_s"],
    )
    return meta
