"""Cost of a generator step: Fast-RobGAN against Rob-GAN (and AC-GAN), through the one
GAN trainer (Fast-RobGAN thesis: 4 discriminator passes per generator step against
Rob-GAN's 25).

The three train the same networks from the same weights on the same random images:
AC-GAN (one standard discriminator step), Rob-GAN (``--d-steps`` discriminator steps,
each on PGD-``--pgd-steps`` examples of its real batch, split class loss) and
Fast-RobGAN (one round of M = 2 free adversarial replays, hinge + KL). Steps alternate
in blocks, side by side in one process; prints the passes through the discriminator
counted by the trainer, the median seconds per generator step of each and the ratio
(target: Fast-RobGAN at most 0.2x Rob-GAN).

    python benchmarks/robust_gan_step.py [--size 32] [--channels 3] [--width 64] [--batch 64]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lib"))

from advtail.losses.gan import build_class_loss, build_gan_objective  # noqa: E402
from advtail.nets.discriminators import DCGANDiscriminator  # noqa: E402
from advtail.nets.gans import DCGANGenerator  # noqa: E402
from advtail.training.gan import GANTrainer  # noqa: E402
from advtail.training.robust_gan import build_discriminator_update  # noqa: E402


def methods(args) -> dict:
    robgan = {"attack": "pgd", "eps": 8 / 255, "steps": args.pgd_steps, "step_size": 2 / 255}
    free = {"attack": "free", "eps": 8 / 255, "step_size": 8 / 255, "replays": 2}
    return {
        "AC-GAN": ("hinge", {"name": "ac"}, None, 1),
        "Rob-GAN": ("non_saturating", {"name": "split"}, robgan, args.d_steps),
        "Fast-RobGAN": ("hinge", {"name": "ce_kl"}, free, 1),
    }


def trainer_for(loss, class_loss, robust, d_steps, args) -> GANTrainer:
    torch.manual_seed(0)  # the same weights for every method
    G = DCGANGenerator(args.size, args.channels, 128, args.width, num_classes=10)
    D = DCGANDiscriminator(args.size, args.channels, args.width, "ac", 10, sn=False)
    cfg = {
        "steps": 1,
        "batch_size": args.batch,
        "d_steps": d_steps,
        "seed": 0,
        "optimizer": {"lr_g": 2e-4, "lr_d": 2e-4, "betas": [0.0, 0.9]},
    }
    return GANTrainer(
        G,
        D,
        build_gan_objective({"name": loss}),
        cfg,
        torch.device("cpu"),
        class_loss=build_class_loss(class_loss),
        discriminator_update=build_discriminator_update(robust),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--channels", type=int, default=3)
    parser.add_argument("--width", type=int, default=32)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--d-steps", type=int, default=5)
    parser.add_argument("--pgd-steps", type=int, default=3)
    parser.add_argument("--steps", type=int, default=5, help="generator steps per block")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (1024, args.size, args.size, args.channels), dtype=np.uint8)
    labels = np.arange(len(images)) % 10
    trainers = {name: trainer_for(*spec, args) for name, spec in methods(args).items()}
    print(
        f"{args.size} px x {args.channels}, width {args.width}, batch {args.batch}, Rob-GAN "
        f"{args.d_steps} D steps of PGD-{args.pgd_steps}; torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads"
    )
    seconds = {name: [] for name in trainers}
    passes = {}
    for repeat in range(args.repeats + 1):  # the first block warms up, uncounted
        for name, trainer in trainers.items():
            for step in range(args.steps):
                began = time.perf_counter()
                row = trainer.train_step(repeat * args.steps + step, images, labels)
                if repeat:
                    seconds[name].append(time.perf_counter() - began)
                passes[name] = (row["d_forward"], row["d_backward"])
    medians = {name: statistics.median(s) for name, s in seconds.items()}
    for name, median in medians.items():
        forward, backward = passes[name]
        print(
            f"{name:12s} {forward:3d} D forward / {backward:3d} backward passes, "
            f"median {median:.3f} s per generator step"
        )
    ratio = medians["Fast-RobGAN"] / medians["Rob-GAN"]
    print(f"Fast-RobGAN / Rob-GAN seconds per generator step: {ratio:.3f}x (target <= 0.2x)")


if __name__ == "__main__":
    main()
