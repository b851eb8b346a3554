"""GPU hours a config needs at full scale, estimated from its networks' FLOPs.

For each classifier, GAN, attack and perturbation of a config this counts the
multiply-adds of one forward pass of each network at the config's resolution and class
count (``torch.utils.flop_counter``), multiplies them by the passes the recipe makes
(a backward pass counted as two forwards; each PGD step a forward and a backward), and
sums them per job. Hours assume one GPU sustaining ``--tflops`` (default 20 TFLOP/s: a
fraction of a data-centre GPU's TF32 peak, as small 32-64 px networks reach; measure it
with ``benchmarks/gpu_throughput.py``-style runs where a GPU is at hand). Data loading,
checkpoints and the CPU stages are not counted: read the result as a lower bound.

    python benchmarks/full_scale_cost.py config/cifar10_lt.yaml [more configs]
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "lib"))

from advtail.config import (  # noqa: E402
    expand_seeds,
    gan_cas_classifier,
    load_yaml,
    validate_config,
)
from advtail.data.subsets import target_counts  # noqa: E402
from advtail.nets.classifiers import build_classifier  # noqa: E402
from advtail.nets.discriminators import build_discriminator  # noqa: E402
from advtail.nets.gans import build_generator  # noqa: E402
from advtail.preflight import source_train_counts  # noqa: E402
from advtail.stages.train_gan import gan_architectures  # noqa: E402

SCHEMA = REPO / "config" / "schema" / "config.schema.yaml"
# train images per class of sources whose count only the data tell (image folders):
# an LSUN class capped by max_per_class, ImageNet's about 1300 a class
IMAGE_FOLDER_PER_CLASS = 1300
# forward passes of one image in the standard AutoAttack, at most (it attacks only the
# points still robust): APGD-CE 100 steps, APGD-T 9 x 100, FAB-T 9 x 100, Square 5000
AUTOATTACK_PASSES = 3 * (100 + 900 + 900) + 5000


def flops(model: torch.nn.Module, *inputs) -> float:
    """FLOPs of one forward pass (2 per multiply-add), batch of one."""
    from torch.utils.flop_counter import FlopCounterMode

    model.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(*inputs)
    return float(counter.get_total_flops())


def class_count(dataset: dict) -> int:
    counts = source_train_counts(dataset)
    if counts is not None:
        return len(counts)
    return len(dataset["classes"]) if dataset.get("classes") else dataset.get("num_classes", 1)


def train_counts(config: dict, subset: str) -> np.ndarray:
    dataset = config["datasets"][config["subsets"][subset]["dataset"]]
    counts = source_train_counts(dataset)
    if counts is None:
        per_class = min(dataset.get("max_per_class") or IMAGE_FOLDER_PER_CLASS, 10**9)
        per_class = int(per_class * (1 - dataset.get("test_fraction", 0.2)))
        counts = np.full(class_count(dataset), per_class)
    available = counts - dataset["val_per_class"]
    return target_counts(subset, config["subsets"], available)


def classifier_flops(config: dict, name: str, cfg: dict, shape) -> float:
    dataset = config["datasets"][config["subsets"][cfg["subset"]]["dataset"]]
    arch = {
        **cfg.get("arch", {}),
        "num_classes": class_count(dataset),
        "channels": shape[0],
        "mean": [0.5] * shape[0],
        "std": [0.5] * shape[0],
    }
    if cfg.get("finetune"):  # a fine-tuned discriminator: its GAN's network
        gan = config["gans"][cfg["finetune"]["gan"]]
        images = np.zeros((1, shape[1], shape[2], shape[0]), np.uint8)
        _, d_arch = gan_architectures(gan, images, arch["num_classes"])
        model = build_discriminator(d_arch)
        return flops(model, torch.zeros(1, *shape))
    if arch.get("name") == "gan_discriminator":
        gan_arch = {"name": arch["gan"], "d_width": arch.get("width", 128)}
        images = np.zeros((1, shape[1], shape[2], shape[0]), np.uint8)
        _, d_arch = gan_architectures({"arch": gan_arch, "head": "ac"}, images, arch["num_classes"])
        return flops(build_discriminator(d_arch), torch.zeros(1, *shape))
    return flops(build_classifier(arch), torch.zeros(1, *shape))


def estimate(config: dict) -> dict[str, float]:
    """FLOPs per job kind of a validated, seed-expanded config."""
    shape_of = {
        name: (d["channels"], d["image_size"], d["image_size"])
        for name, d in config["datasets"].items()
    }
    cost: dict[str, float] = defaultdict(float)
    forward = {}
    for name, cfg in config["classifiers"].items():
        shape = shape_of[config["subsets"][cfg["subset"]]["dataset"]]
        forward[name] = classifier_flops(config, name, cfg, shape)
        images = int(train_counts(config, cfg["subset"]).sum())
        adversarial = cfg.get("adversarial") or {}
        passes = 3 * (1 + adversarial.get("steps", 0))  # forward + backward, each PGD step
        cost["train_classifier"] += forward[name] * images * cfg["epochs"] * passes
    for cfg in config["gans"].values():
        dataset = config["datasets"][config["subsets"][cfg["subset"]]["dataset"]]
        shape = shape_of[config["subsets"][cfg["subset"]]["dataset"]]
        images = np.zeros((1, shape[1], shape[2], shape[0]), np.uint8)
        g_arch, d_arch = gan_architectures(cfg, images, class_count(dataset))
        generator, discriminator = build_generator(g_arch), build_discriminator(d_arch)
        z = torch.zeros(1, g_arch["latent_dim"])
        y = torch.zeros(1, dtype=torch.long) if g_arch["num_classes"] else None
        f_g = flops(generator, z, y) if y is not None else flops(generator, z)
        if d_arch["head"] == "projection":
            f_d = flops(discriminator, torch.zeros(1, *shape), torch.zeros(1, dtype=torch.long))
        else:
            f_d = flops(discriminator, torch.zeros(1, *shape))
        batch, d_steps = cfg["batch_size"], cfg.get("d_steps", 1)
        robust = cfg.get("robust") or {}
        attack = robust.get("steps", robust.get("replays", 0))
        # per generator step: d_steps of (fakes, D on reals and fakes forward and
        # backward, the robust attack's steps on both), then G and D forward and backward
        per_d = batch * (f_g + 2 * 3 * f_d + 2 * 3 * f_d * attack)
        per_g = batch * 3 * (f_g + f_d)
        cost["train_gan"] += cfg["steps"] * (d_steps * per_d + per_g)
        validations = cfg["steps"] // cfg["validate_every"] if cfg.get("validate_every") else 0
        cost["train_gan"] += validations * (cfg.get("validation_samples") or 0) * f_g
        cost["generate_samples"] += cfg["samples"]["count"] * f_g
        cas = gan_cas_classifier(cfg, config["classifiers"], config["subsets"])
        if cas:  # the CAS recipe trained on the samples
            recipe = config["classifiers"][cas]
            cost["classification_accuracy_score"] += (
                forward[cas] * cfg["samples"]["count"] * recipe["epochs"] * 3
            )
    for cfg in (config.get("robustness") or {}).get("threats", {}).values():
        for classifier in cfg["classifiers"]:
            dataset = config["subsets"][config["classifiers"][classifier]["subset"]]["dataset"]
            test = 10000 if config["datasets"][dataset]["source"].startswith("cifar") else 5000
            for attack in cfg["attacks"]:
                images = (cfg.get("images") or {}).get(attack, test)
                if attack == "autoattack":
                    passes = AUTOATTACK_PASSES
                elif attack[:3] in ("pgd",) or attack[:2] == "cw":
                    passes = 3 * int("".join(c for c in attack if c.isdigit()))
                else:
                    passes = 3
                cost["evaluate_robustness"] += forward[classifier] * images * passes
    uaps = config.get("uaps") or {}
    if uaps:
        prior = uaps["prior_gan"]
        shape = shape_of[config["subsets"][prior["subset"]]["dataset"]]
        images = np.zeros((1, shape[1], shape[2], shape[0]), np.uint8)
        g_arch, d_arch = gan_architectures(prior, images, 1)
        f_g = flops(build_generator(g_arch), torch.zeros(1, g_arch["latent_dim"]))
        f_d = flops(build_discriminator(d_arch), torch.zeros(1, *shape))
        for victim in uaps["victims"]:
            for _seed in uaps.get("seeds", [0]):
                # two prior GANs (class-balancing, entropy only), the victim in the loop
                step = prior["batch_size"] * (f_g + 6 * f_d + 3 * (f_g + f_d + forward[victim]))
                cost["train_prior_gan"] += 2 * prior["steps"] * step
                # GAP: a generator of perturbations (about the victim's size) trained
                # through the victim, for each of the crafting sets
                gap = uaps["gap"]["steps"] * uaps["gap"]["batch_size"] * 3 * 2 * forward[victim]
                cost["craft_uap"] += 4 * gap
    return dict(cost)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("configs", nargs="+", type=Path)
    parser.add_argument("--tflops", type=float, default=20.0, help="sustained TFLOP/s of a GPU")
    args = parser.parse_args()
    torch.set_num_threads(1)
    print("config,job,pflop,gpu_hours")
    for path in args.configs:
        config = validate_config(load_yaml(path), SCHEMA)
        expand_seeds(config)
        cost = estimate(config)
        for job, value in sorted(cost.items()):
            hours = value / (args.tflops * 1e12) / 3600
            print(f"{path.stem},{job},{value / 1e15:.1f},{hours:.1f}")
        total = sum(cost.values())
        print(f"{path.stem},total,{total / 1e15:.1f},{total / (args.tflops * 1e12) / 3600:.1f}")


if __name__ == "__main__":
    main()
