"""Subsets of a dataset's train split: long-tailed, step, balanced-small, labelled-fraction.

Profiles (``subsets.<name>.profile``):

- ``full``: the whole train split.
- ``exponential``: Cao et al.'s long tail, n_i = int(n_max * (1/rho) ** (i/(K-1))).
- ``step``: half the classes keep n_max, the other half n_max / rho.
- ``balanced_small``: the total of the ``reference`` subset spread evenly (REAT app. E).
- ``labelled_fraction``: at most ``labelled_per_class`` labelled images per class of
  the ``base`` subset (or the train split); the rest keep label -1 (unlabelled).

Selection is deterministic in ``seed``: per class, the class's indices are shuffled
by a generator seeded with (seed, class) and the first n_k kept, as in Cao et al.
Subsets of the same seed are therefore nested: rho = 100 keeps a prefix of what
rho = 10 keeps. The output ``subset.npz`` is canonical (see ``arrays``) plus
``source_index``: the row of each image in the train split.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from advtail.data.arrays import UNLABELLED, ImageSet
from advtail.data.profiles import (
    balanced_counts,
    class_groups,
    exponential_counts,
    step_counts,
)
from advtail.errors import ConfigError

log = logging.getLogger(__name__)

SOURCE_INDEX = "source_index"


def select_per_class(labels: np.ndarray, counts: np.ndarray, seed: int) -> np.ndarray:
    """Sorted indices of the first ``counts[k]`` of each class after a seeded shuffle."""
    chosen = []
    for k, n_k in enumerate(counts):
        idx = np.flatnonzero(labels == k)
        if n_k > len(idx):
            raise ValueError(f"class {k} has {len(idx)} images, {n_k} requested")
        chosen.append(np.random.default_rng([seed, k]).permutation(idx)[:n_k])
    return np.sort(np.concatenate(chosen)).astype(np.int64)


def target_counts(name: str, subsets: dict, available: np.ndarray) -> np.ndarray:
    """Per-class counts of subset ``name`` (of the validated ``subsets`` config).

    ``available`` holds the train split's images per class. ``n_max`` defaults to
    the smallest class of the split, so every class can supply its share.
    """
    cfg = subsets[name]
    key = f"subsets.{name}"
    num_classes = len(available)
    profile = cfg["profile"]
    if profile in ("full", "labelled_fraction") and cfg.get("base") is None:
        return available.copy()
    if profile == "labelled_fraction":
        return target_counts(cfg["base"], subsets, available)
    if profile == "balanced_small":
        total = int(target_counts(cfg["reference"], subsets, available).sum())
        counts = balanced_counts(total, num_classes)
    else:
        n_max = cfg.get("n_max") or int(available.min())
        if n_max > available.min():
            raise ConfigError(
                f"{key}.n_max",
                f"expected at most {int(available.min())} (the smallest class of the train "
                "split) so every class can supply its share",
                n_max,
            )
        profile_counts = {"exponential": exponential_counts, "step": step_counts}[profile]
        counts = profile_counts(n_max, num_classes, cfg["imbalance_ratio"])
    short = np.flatnonzero(counts > available)
    if short.size:
        k = int(short[0])
        raise ConfigError(
            key,
            f"class {k} needs {int(counts[k])} images but the train split has {int(available[k])}",
            counts.tolist(),
        )
    if (counts == 0).any():
        raise ConfigError(
            key,
            "expected every class to keep at least one image; lower imbalance_ratio",
            counts.tolist(),
        )
    return counts


def subset_selection(name: str, subsets: dict, labels: np.ndarray, num_classes: int):
    """(indices into the train split, labelled mask) of subset ``name``."""
    cfg = subsets[name]
    available = np.bincount(labels, minlength=num_classes)
    if cfg["profile"] == "labelled_fraction":
        base = cfg.get("base")
        if base is None:
            indices = np.arange(len(labels), dtype=np.int64)
        else:
            indices, _ = subset_selection(base, subsets, labels, num_classes)
        base_labels = labels[indices]
        per_class = np.minimum(
            np.bincount(base_labels, minlength=num_classes), cfg["labelled_per_class"]
        )
        # Positions (within the base) of the labelled images; seed offset keeps the
        # labelled draw independent of the draw that made the base.
        picked = select_per_class(base_labels, per_class, cfg["seed"] + 7919)
        labelled = np.zeros(len(indices), dtype=bool)
        labelled[picked] = True
        return indices, labelled
    counts = target_counts(name, subsets, available)
    indices = select_per_class(labels, counts, cfg["seed"])
    return indices, np.ones(len(indices), dtype=bool)


def build_subset(name: str, subsets: dict, train: ImageSet) -> ImageSet:
    indices, labelled = subset_selection(name, subsets, train.labels, train.num_classes)
    labels = np.where(labelled, train.labels[indices], UNLABELLED).astype(np.int64)
    cfg = subsets[name]
    meta = {
        "dataset": train.meta.get("dataset"),
        "subset": name,
        "profile": cfg["profile"],
        "config": cfg,
        "source_sha256": train.meta.get("sha256"),
    }
    return ImageSet(
        train.images[indices], labels, train.class_names, extra={SOURCE_INDEX: indices}, meta=meta
    )


def counts_table(subset: ImageSet, train_labels: np.ndarray) -> pd.DataFrame:
    """One row per class: total, labelled, unlabelled count and head/body/tail group."""
    source_labels = train_labels[subset.extra[SOURCE_INDEX]]
    total = np.bincount(source_labels, minlength=subset.num_classes)
    labelled = subset.class_counts()
    return pd.DataFrame(
        {
            "class": np.arange(subset.num_classes),
            "class_name": subset.class_names,
            "count": total,
            "labelled": labelled,
            "unlabelled": total - labelled,
            "group": class_groups(total),
        }
    )
