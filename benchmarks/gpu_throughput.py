"""Throughput of the full-scale recipes' inner loops on whatever device is present (CUDA
when visible, else the CPU), each in float32 and under the ``precision`` block's bf16
autocast with channels_last (``advtail.training.runtime.Precision``):

- generator steps per second of SNDCGAN and SN-ResNet GAN at CIFAR size (32x32x3, batch
  64, the widths of config/cifar10_lt.yaml), through the one GAN trainer (hinge loss,
  one discriminator step);
- images per second of one PGD-10 adversarial-training step of ResNet-18 (8/255, step
  2/255, random start; attack + forward + backward + SGD step), through the one
  classifier trainer's batch code;
- PGD-20 attack throughput of advtail's PGD against the Adversarial Robustness
  Toolbox's on the same ResNet-18 and images (float32, no random start; both must return
  the same images).

Timed after warm-up steps, with the device synchronised; sized to finish in under five
minutes on a GPU (``--quick`` for a CPU check of the script itself):

    python benchmarks/gpu_throughput.py [--quick] [--device auto] [--threads N]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lib"))

from advtail.attacks.budgets import to_model_scale  # noqa: E402
from advtail.attacks.gradient import PGD  # noqa: E402
from advtail.losses.classification import build_classification_loss  # noqa: E402
from advtail.losses.gan import build_gan_objective  # noqa: E402
from advtail.nets.classifiers import build_classifier  # noqa: E402
from advtail.nets.discriminators import build_discriminator  # noqa: E402
from advtail.nets.gans import build_generator  # noqa: E402
from advtail.training.gan import GANTrainer  # noqa: E402
from advtail.training.runtime import Precision, as_float, resolve_device  # noqa: E402

PRECISIONS = {"fp32": None, "bf16+channels_last": {"autocast": "bf16", "channels_last": True}}
GANS = {  # config/cifar10_lt.yaml's widths
    "SNDCGAN": {"name": "sndcgan", "g_width": 64, "d_width": 64},
    "SN-ResNet GAN": {"name": "snresgan", "g_width": 256, "d_width": 128},
}


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(step, device: torch.device, warmup: int, repeats: int) -> float:
    """Seconds per call of ``step`` after ``warmup`` calls."""
    for _ in range(warmup):
        step()
    synchronize(device)
    began = time.perf_counter()
    for _ in range(repeats):
        step()
    synchronize(device)
    return (time.perf_counter() - began) / repeats


def gan_steps_per_second(name, arch, precision, device, args) -> float:
    torch.manual_seed(0)
    g_arch = {
        "name": arch["name"],
        "resolution": 32,
        "channels": 3,
        "latent_dim": 128,
        "width": arch["g_width"],
        "num_classes": None,
        "label_embedding": 0,
    }
    d_arch = {
        "name": arch["name"],
        "resolution": 32,
        "channels": 3,
        "width": arch["d_width"],
        "head": "none",
        "num_classes": None,
        "sn": True,
    }
    cfg = {
        "steps": 1,
        "batch_size": args.gan_batch,
        "d_steps": 1,
        "seed": 0,
        "optimizer": {"lr_g": 2e-4, "lr_d": 2e-4, "betas": [0.0, 0.9]},
        "precision": precision,
    }
    trainer = GANTrainer(
        build_generator(g_arch),
        build_discriminator(d_arch),
        build_gan_objective({"name": "hinge"}),
        cfg,
        device,
    )
    trainer.images = torch.randint(0, 256, (512, 32, 32, 3), dtype=torch.uint8).to(device)
    trainer.labels = torch.zeros(512, dtype=torch.int64, device=device)
    counter = iter(range(10**9))
    warmup = 1 if args.quick else 2
    return 1.0 / timed(lambda: trainer.train_step(next(counter)), device, warmup, args.gan_steps)


def resnet18(device: torch.device) -> nn.Module:
    torch.manual_seed(0)
    arch = {"name": "resnet18", "num_classes": 10, "channels": 3}
    return build_classifier({**arch, "mean": [0.5] * 3, "std": [0.25] * 3}).to(device)


def pgd_at_images_per_second(precision_cfg, device, args) -> float:
    """One PGD-10 adversarial-training step of ResNet-18, as the classifier trainer does
    it: the attack in eval mode, then the loss in train mode, backward, SGD."""
    precision = Precision.from_config(precision_cfg)
    model = resnet18(device)
    precision.prepare(device, model)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    loss_fn = build_classification_loss({"name": "ce"}, [1] * 10).to(device)
    attack = PGD(to_model_scale(8 / 255), 10, to_model_scale(2 / 255), random_start=True)
    x = precision.images(torch.rand(args.batch, 3, 32, 32, device=device) * 2 - 1)
    y = torch.randint(0, 10, (args.batch,), device=device)
    rng = torch.Generator().manual_seed(0)

    def step():
        with precision.forward(device):
            x_adv = attack(model, x, y, rng)
            model.train()
            loss = loss_fn(as_float(model(x_adv)), y, None)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return args.batch / timed(step, device, 1, args.at_steps)


def pgd20_images_per_second(device, args) -> dict:
    """advtail's PGD-20 against ART's on the same ResNet-18 and images (float32)."""
    from art.attacks.evasion import ProjectedGradientDescentPyTorch
    from art.estimators.classification import PyTorchClassifier

    model = resnet18(device).eval()
    x = torch.rand(args.attack_images, 3, 32, 32) * 2 - 1
    y = torch.randint(0, 10, (args.attack_images,))
    eps, step = to_model_scale(8 / 255), to_model_scale(2 / 255)
    ours = PGD(eps, 20, step, random_start=False)
    estimator = PyTorchClassifier(
        model=model,
        loss=nn.CrossEntropyLoss(),
        input_shape=(3, 32, 32),
        nb_classes=10,
        clip_values=(-1.0, 1.0),
        device_type="gpu" if device.type == "cuda" else "cpu",
    )
    theirs = ProjectedGradientDescentPyTorch(
        estimator,
        norm=np.inf,
        eps=eps,
        eps_step=step,
        max_iter=20,
        num_random_init=0,
        batch_size=args.batch,
        verbose=False,
    )
    xd, yd = x.to(device), y.to(device)
    results = {}

    def run_ours():
        batches = range(0, len(xd), args.batch)
        results["advtail"] = torch.cat(
            [ours(model, xd[i : i + args.batch], yd[i : i + args.batch]) for i in batches]
        ).cpu()

    def run_theirs():
        results["art"] = torch.from_numpy(theirs.generate(x.numpy(), y=y.numpy()))

    rates = {
        "advtail": args.attack_images / timed(run_ours, device, 1, 1),
        "art": args.attack_images / timed(run_theirs, device, 1, 1),
    }
    rates["largest_difference"] = (results["advtail"] - results["art"]).abs().max().item()
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--quick", action="store_true", help="few steps (a CPU check)")
    parser.add_argument(
        "--threads",
        type=int,
        help="CPU threads (fewer than the free cores: oversubscribed "
        "threads ran a GAN step 10x slower beside another job)",
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    # --quick: batches of 8 and one timed step each (about two minutes on 2 CPU cores)
    args.gan_batch, args.batch = (8, 8) if args.quick else (64, 128)
    args.gan_steps, args.at_steps, args.attack_images = (1, 1, 16) if args.quick else (20, 5, 1024)
    device = resolve_device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    threads = torch.get_num_threads()
    print(f"device: {device} ({name}), torch {torch.__version__}, {threads} CPU threads")
    bf16_ok = device.type != "cuda" or torch.cuda.is_bf16_supported()
    for gan, arch in GANS.items():
        for label, precision in PRECISIONS.items():
            if precision and not bf16_ok:
                continue
            rate = gan_steps_per_second(gan, arch, precision, device, args)
            print(
                f"{gan:14s} 32x32x3 batch {args.gan_batch}, {label:19s} "
                f"{rate:8.2f} generator steps/s"
            )
    for label, precision in PRECISIONS.items():
        if precision and not bf16_ok:
            continue
        rate = pgd_at_images_per_second(precision, device, args)
        print(f"ResNet-18 PGD-10 AT step, batch {args.batch}, {label:19s} {rate:8.1f} images/s")
    rates = pgd20_images_per_second(device, args)
    print(
        f"PGD-20 on ResNet-18, {args.attack_images} images: advtail {rates['advtail']:.1f} "
        f"images/s, ART {rates['art']:.1f} images/s, ratio {rates['advtail'] / rates['art']:.2f}x"
        f" (largest image difference {rates['largest_difference']:.1e})"
    )


if __name__ == "__main__":
    main()
