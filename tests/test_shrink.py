"""Miniature runs (``shrink``): stand-in data, one run per recipe, cut costs."""

from __future__ import annotations

import numpy as np
import pytest
from advtail.config import load_yaml, shrink_config, validate_config
from advtail.config.shrink import (
    ATTACK_IMAGES,
    EPOCHS,
    GAN_STEPS,
    Recipes,
    fewer_steps,
    standin_per_class,
)
from advtail.data.sources import build_splits, standin_images
from advtail.errors import ConfigError, DataFileError
from conftest import REPO, SCHEMA

FULL_SCALE = [
    "cifar10_lt",
    "cifar100_lt",
    "lsun5_lt",
    "cifar10_lt_reat",
    "cifar100_lt_reat",
    "cifar10_robgan",
    "imagenet143_robgan",
    "cifar10_uap",
]


def miniature(name: str) -> dict:
    return validate_config(shrink_config(load_yaml(REPO / "config" / f"{name}.yaml")), SCHEMA)


@pytest.mark.parametrize("name", FULL_SCALE)
def test_every_full_scale_config_has_a_valid_miniature_on_stand_in_data(name):
    written = validate_config(load_yaml(REPO / "config" / f"{name}.yaml"), SCHEMA)
    small = miniature(name)
    for dataset, cfg in written["datasets"].items():
        mini = small["datasets"][dataset]
        assert mini["source"] == "standin"  # no full-scale source is readable offline
        assert (mini["image_size"], mini["channels"]) == (cfg["image_size"], cfg["channels"])
    assert 0 < len(small["classifiers"]) <= len(written["classifiers"])
    assert len(small["gans"]) <= len(written["gans"])
    for cfg in small["classifiers"].values():
        assert cfg["epochs"] <= EPOCHS and cfg["batch_size"] <= 16
    for cfg in small["gans"].values():
        assert cfg["steps"] <= GAN_STEPS and cfg["samples"]["count"] <= max(32, 143)
    for threat in small["robustness"]["threats"].values():
        assert all(n <= ATTACK_IMAGES for n in threat["images"].values())
        assert threat["autoattack"]["apgd_iterations"] <= 2


def test_stand_in_keeps_the_class_count_of_each_source():
    assert miniature("cifar10_lt")["datasets"]["cifar10"]["num_classes"] == 10
    assert miniature("cifar100_lt")["datasets"]["cifar100"]["num_classes"] == 100
    assert miniature("lsun5_lt")["datasets"]["lsun5"]["num_classes"] == 5
    imagenet = miniature("imagenet143_robgan")["datasets"]["imagenet143"]
    assert (imagenet["num_classes"], imagenet["image_size"]) == (143, 64)
    # the data-free prior GAN is unconditional: its folder of any layout is one class
    assert miniature("cifar10_uap")["datasets"]["prior"]["num_classes"] == 1
    assert standin_per_class(10) == 8 and standin_per_class(143) == 3


def test_one_run_per_recipe_keeps_each_method_once():
    reat = miniature("cifar10_lt_reat")
    # ten classifiers: three methods on three tails and PGD-AT on a balanced subset
    assert list(reat["classifiers"]) == ["pgdat_lt10", "pgdat_bsl_lt10", "reat_lt10"]
    assert reat["robustness"]["threats"]["linf8"]["classifiers"] == list(reat["classifiers"])
    # PGD-20 and PGD-100 are one attack at two steps
    assert reat["robustness"]["threats"]["linf8"]["attacks"] == [
        "clean",
        "pgd2",
        "cw2",
        "autoattack",
    ]
    lt = miniature("cifar10_lt")
    kept = set(lt["gans"])
    # every architecture, objective and head of the paper's table runs
    assert {"sndcgan_lt100", "sndcgan_cb_lt100", "snresgan_lt100", "snresgan_cb_lt100"} <= kept
    assert {"cgan_lt100", "acgan_lt100"} <= kept
    assert not {"sndcgan_lt10", "sndcgan_full", "cgan_lt10"} & kept  # numbers and subsets only
    # what the kept GANs use is kept: their in-loop classifiers, annotator and CAS recipe
    for gan in kept:
        regularizer = lt["gans"][gan].get("regularizer")
        if regularizer:
            assert regularizer["classifier"] in lt["classifiers"]
    assert {"annotator", "cas_full"} <= set(lt["classifiers"])
    robgan = miniature("cifar10_robgan")
    # the two fine-tuned discriminators differ by the GAN they start from
    assert {"robgan_ft_c10", "fastrobgan_ft_c10", "pgdat_disc_c10"} <= set(robgan["classifiers"])
    assert set(robgan["gans"]) == {"acgan_c10", "robgan_c10", "fastrobgan_c10"}
    assert list(robgan["robustness"]["threats"]) == ["linf_001"]  # three budgets, one recipe


def test_recipes_differ_by_names_and_structure_not_by_numbers():
    config = {
        "classifiers": {
            "a": {"subset": "s1", "loss": {"name": "ce"}, "epochs": 200, "seed": [0, 1]},
            "b": {"subset": "s2", "loss": {"name": "ce"}, "epochs": 80, "seed": 3},
            "c": {"subset": "s1", "loss": {"name": "ldam"}, "epochs": 200},
            "d": {"subset": "s1", "loss": {"name": "ce"}, "epochs": 200, "augment": {}},
            "ft_g": {"subset": "s1", "finetune": {"gan": "g", "lambda": 0.5}},
            "ft_h": {"subset": "s1", "finetune": {"gan": "h", "lambda": 0.1}},
            "ft_g2": {"subset": "s2", "finetune": {"gan": "g2", "lambda": 0.5}},
        },
        "gans": {
            "g": {"arch": {"name": "snresgan"}, "robust": {"eps": "8/255", "steps": 5}},
            "g2": {"arch": {"name": "snresgan"}, "robust": {"eps": "4/255", "steps": 7}},
            "h": {"arch": {"name": "snresgan"}, "robust": {"attack": "free"}},
        },
    }
    recipes = Recipes(config)
    of = lambda name: recipes.of("classifier", name)  # noqa: E731
    assert of("a") == of("b")
    assert len({of("a"), of("c"), of("d")}) == 3
    assert of("ft_g") == of("ft_g2") != of("ft_h")


def test_fewer_steps_renames_stepped_attacks_only():
    assert [fewer_steps(a) for a in ["pgd100", "cw1", "fgsm", "autoattack", "pgd2"]] == [
        "pgd2",
        "cw1",
        "fgsm",
        "autoattack",
        "pgd2",
    ]


def test_shrink_reads_true_from_the_command_line_and_leaves_a_full_run_alone():
    config = load_yaml(REPO / "config" / "cifar10_lt_reat.yaml")
    assert validate_config(dict(config, shrink="true"), SCHEMA)["shrink"] is True
    full = validate_config(dict(config), SCHEMA)
    assert full["shrink"] is False and full["datasets"]["cifar10"]["source"] == "cifar10"


def test_stand_in_images_are_deterministic_and_tell_their_classes_apart():
    images, labels = standin_images(5, 12, 16, 3, seed=0)
    again, _ = standin_images(5, 12, 16, 3, seed=0)
    assert images.shape == (60, 16, 16, 3) and images.dtype == np.uint8
    assert np.array_equal(images, again)
    assert np.bincount(labels).tolist() == [12] * 5
    means = np.stack([images[labels == k].astype(float).mean(0) for k in range(5)])
    within = np.mean([images[labels == k].astype(float).std(0).mean() for k in range(5)])
    between = np.abs(means[:, None] - means[None]).mean(axis=(2, 3, 4))
    assert between[~np.eye(5, dtype=bool)].min() > within  # a class is its own pattern
    splits = build_splits(
        "toy",
        {
            "source": "standin",
            "num_classes": 5,
            "per_class": 12,
            "image_size": 16,
            "channels": 1,
            "test_fraction": 0.25,
            "val_per_class": 1,
            "split_seed": 0,
        },
    )
    counts = {s: np.bincount(splits[s].labels).tolist() for s in splits}
    assert counts == {"train": [8] * 5, "val": [1] * 5, "test": [3] * 5}


def test_an_image_folder_of_unknown_class_count_cannot_be_shrunk(tmp_path):
    config = load_yaml(REPO / "config" / "imagenet143_robgan.yaml")
    del config["datasets"]["imagenet143"]["num_classes"]
    with pytest.raises(ConfigError, match=r"datasets\.imagenet143\.num_classes") as info:
        shrink_config(config)
    assert "got" not in str(info.value)  # a missing key has no value to quote


def test_an_image_folder_with_other_than_its_num_classes_is_refused(tmp_path):
    from PIL import Image

    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        Image.new("RGB", (8, 8)).save(tmp_path / name / "0.png")
    cfg = {
        "source": "imagefolder",
        "root": str(tmp_path),
        "num_classes": 3,
        "image_size": 8,
        "channels": 3,
        "test_fraction": 0.5,
        "val_per_class": 0,
        "split_seed": 0,
    }
    with pytest.raises(DataFileError, match="expected 3 class folders"):
        build_splits("folder", cfg)
