"""PGD-20 throughput: advtail's PGD against the Adversarial Robustness Toolbox's.

Both attack the same network (the pipeline's ``small_cnn``, random weights: the cost
of an attack does not depend on them) on the same images, side by side in one
process, L-inf, eps 8/255, step 2/255, 20 steps, no random start (so both must also
return the same images). Prints images/s of each, the speed ratio (target: ours at
least 1.5x on the CPU) and the largest difference of the adversarial images.

    python benchmarks/attack_throughput.py [--images 1024] [--size 32] [--width 32]
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
from advtail.nets.classifiers import build_classifier  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=1024)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--width", type=int, default=32)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    from art.attacks.evasion import ProjectedGradientDescentPyTorch
    from art.estimators.classification import PyTorchClassifier

    torch.manual_seed(0)
    model = build_classifier(
        {
            "name": "small_cnn",
            "width": args.width,
            "num_classes": 10,
            "channels": 3,
            "mean": [0.0] * 3,
            "std": [1.0] * 3,
        }
    ).eval()
    x = torch.rand(args.images, 3, args.size, args.size) * 2 - 1
    y = torch.randint(0, 10, (args.images,))
    eps, step = to_model_scale(8 / 255), to_model_scale(2 / 255)
    ours = PGD(eps, 20, step, random_start=False)
    estimator = PyTorchClassifier(
        model=model,
        loss=nn.CrossEntropyLoss(),
        input_shape=(3, args.size, args.size),
        nb_classes=10,
        clip_values=(-1.0, 1.0),
        device_type="cpu",
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

    def run_ours():
        return torch.cat(
            [
                ours(model, x[i : i + args.batch], y[i : i + args.batch])
                for i in range(0, len(x), args.batch)
            ]
        )

    def run_theirs():
        return torch.from_numpy(theirs.generate(x.numpy(), y=y.numpy()))

    seconds = {"advtail": [], "art": []}
    for _ in range(args.repeats):  # alternated, so drifts of the machine hit both
        for name, run in (("advtail", run_ours), ("art", run_theirs)):
            began = time.perf_counter()
            result = run()
            seconds[name].append(time.perf_counter() - began)
            if name == "advtail":
                adv_ours = result
            else:
                adv_theirs = result
    best = {name: min(times) for name, times in seconds.items()}
    print(f"PGD-20, {args.images} images {args.size}x{args.size}x3, small_cnn width {args.width}")
    print(f"threads: {torch.get_num_threads()}, best of {args.repeats}")
    for name, value in best.items():
        print(f"  {name:8s} {value:7.2f} s  {args.images / value:8.1f} images/s")
    print(f"ratio advtail / art (speed): {best['art'] / best['advtail']:.2f}x (target >= 1.5x)")
    print(f"largest image difference: {(adv_ours - adv_theirs).abs().max().item():.2e}")


if __name__ == "__main__":
    main()
