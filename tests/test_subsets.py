"""Subset selection: counts from class-count arrays, determinism, nesting, labelled fraction."""

import numpy as np
import pandas as pd
import pytest
from advtail.data.arrays import UNLABELLED, load_image_set, save_image_set
from advtail.data.subsets import (
    SOURCE_INDEX,
    build_subset,
    subset_selection,
    target_counts,
)
from advtail.errors import ConfigError
from advtail.stages.make_subset import make_subset
from conftest import make_image_set
from test_profiles import CIFAR10_LT


def lt(rho, seed=0, **extra):
    return {
        "dataset": "toy",
        "profile": "exponential",
        "imbalance_ratio": rho,
        "seed": seed,
        **extra,
    }


@pytest.mark.parametrize("rho", [100, 50, 10])
def test_cifar10_counts_from_class_counts(rho):
    subsets = {"lt": lt(rho)}
    counts = target_counts("lt", subsets, np.full(10, 5000))
    assert counts.tolist() == CIFAR10_LT[rho][0]


def test_cifar100_counts_from_class_counts():
    counts = target_counts("lt", {"lt": lt(100)}, np.full(100, 500))
    assert counts.sum() == 10847


def test_balanced_small_matches_reference_total():
    subsets = {
        "lt": lt(100),
        "bal": {"dataset": "toy", "profile": "balanced_small", "reference": "lt", "seed": 0},
    }
    counts = target_counts("bal", subsets, np.full(10, 5000))
    assert counts.sum() == 12406
    assert counts.max() - counts.min() == 1


def test_n_max_defaults_to_smallest_class_and_is_bounded():
    available = np.array([130, 120, 125, 140])
    assert target_counts("lt", {"lt": lt(1)}, available).tolist() == [120] * 4
    with pytest.raises(ConfigError, match=r"subsets\.lt\.n_max"):
        target_counts("lt", {"lt": lt(10, n_max=121)}, available)


def test_too_steep_profile_is_a_config_error():
    with pytest.raises(ConfigError, match="at least one image"):
        target_counts("lt", {"lt": lt(1000)}, np.full(10, 100))


def test_selection_is_deterministic_and_seeded():
    train = make_image_set([200] * 10)
    first, _ = subset_selection("lt", {"lt": lt(10)}, train.labels, 10)
    again, _ = subset_selection("lt", {"lt": lt(10)}, train.labels, 10)
    other, _ = subset_selection("lt", {"lt": lt(10, seed=1)}, train.labels, 10)
    assert np.array_equal(first, again)
    assert not np.array_equal(first, other)
    assert np.bincount(train.labels[first]).tolist() == np.bincount(train.labels[other]).tolist()


def test_steeper_subsets_are_nested():
    train = make_image_set([200] * 10)
    mild, _ = subset_selection("a", {"a": lt(10)}, train.labels, 10)
    steep, _ = subset_selection("b", {"b": lt(100)}, train.labels, 10)
    assert set(steep) <= set(mild)


def test_build_subset_images_follow_indices():
    train = make_image_set([50, 60, 70])
    subset = build_subset("lt", {"lt": lt(5)}, train)
    idx = subset.extra[SOURCE_INDEX]
    assert np.array_equal(subset.images, train.images[idx])
    assert np.array_equal(subset.labels, train.labels[idx])
    assert subset.class_counts().tolist() == [50, 22, 10]


def test_labelled_fraction_of_a_long_tailed_base():
    train = make_image_set([100] * 10)
    subsets = {
        "lt": lt(10),
        "few": {
            "dataset": "toy",
            "profile": "labelled_fraction",
            "base": "lt",
            "labelled_per_class": 15,
            "seed": 0,
        },
    }
    subset = build_subset("few", subsets, train)
    base = build_subset("lt", subsets, train)
    assert np.array_equal(subset.extra[SOURCE_INDEX], base.extra[SOURCE_INDEX])
    labelled = subset.class_counts()
    # at most 15 per class; classes smaller than 15 keep all theirs labelled
    assert labelled.tolist() == np.minimum(base.class_counts(), 15).tolist()
    unlabelled = subset.labels == UNLABELLED
    assert unlabelled.sum() == len(subset.labels) - labelled.sum()
    # the labelled ones keep their true label
    truth = train.labels[subset.extra[SOURCE_INDEX]]
    assert np.array_equal(subset.labels[~unlabelled], truth[~unlabelled])


def test_labelled_fraction_of_whole_split():
    train = make_image_set([30, 40])
    subsets = {
        "l5": {"dataset": "toy", "profile": "labelled_fraction", "labelled_per_class": 5, "seed": 3}
    }
    subset = build_subset("l5", subsets, train)
    assert len(subset.labels) == 70
    assert subset.class_counts().tolist() == [5, 5]


def test_make_subset_writes_npz_counts_and_chart(tmp_path):
    train = make_image_set([40, 30, 20, 10], image_size=4)
    train_path = tmp_path / "train.npz"
    save_image_set(train_path, train)
    out = tmp_path / "lt"
    table = make_subset(
        "lt", {"lt": lt(4)}, train_path, out / "subset.npz", out / "counts.csv", out / "counts.png"
    )
    assert table["count"].tolist() == [10, 6, 3, 2]
    on_disk = pd.read_csv(out / "counts.csv")
    assert on_disk["count"].tolist() == [10, 6, 3, 2]
    assert on_disk["group"].tolist() == ["head", "body", "body", "tail"]
    subset = load_image_set(out / "subset.npz")
    assert subset.class_counts().tolist() == [10, 6, 3, 2]
    assert subset.meta["imbalance_ratio"] == pytest.approx(5.0)
    assert (out / "counts.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
