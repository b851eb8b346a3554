"""Cost of a REAT epoch against a PGD-AT epoch (REAT appendix, Table 14).

Both train the same network from the same weights on the same long-tailed images
(random pixels, CIFAR-10-LT's profile at rho 50 scaled to ``--images``), through the
pipeline's one classifier trainer: PGD-AT with balanced softmax (PGD-10, eps 8/255,
step 2/255, random start), and REAT (the same with RBL as the attack's inner loss and
TAIL added to balanced softmax). Epochs alternate, side by side in one process; prints
each epoch's seconds, the median of each and the ratio (target: REAT at most 1.1x).

    python benchmarks/reat_epoch.py [--images 1024] [--size 32] [--width 32] [--repeats 3]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lib"))

from advtail.data.profiles import exponential_counts  # noqa: E402
from advtail.losses.classification import BalancedSoftmaxLoss, ClassWeightSchedule  # noqa: E402
from advtail.losses.reat import TailFeatureMarginLoss  # noqa: E402
from advtail.nets.classifiers import build_classifier  # noqa: E402
from advtail.training.adversarial import AdversarialExamples  # noqa: E402
from advtail.training.classifier import ClassifierTrainer  # noqa: E402

PGD_AT = {"attack": "pgd", "eps": 8 / 255, "steps": 10, "step_size": 2 / 255}
REAT = {**PGD_AT, "inner_loss": {"name": "ce", "weights": "rbl"}, "tail": {"lambda": 1.0}}


def trainer_for(adversarial: dict, model, counts, args) -> ClassifierTrainer:
    loss = BalancedSoftmaxLoss(counts)
    if adversarial.get("tail"):
        loss = TailFeatureMarginLoss(loss, counts, adversarial["tail"]["lambda"])
    cfg = {
        "optimizer": {"name": "sgd", "lr": 0.1, "momentum": 0.9, "weight_decay": 5e-4},
        "epochs": 1,
        "batch_size": args.batch,
        "seed": 0,
        "adversarial": adversarial,
    }
    return ClassifierTrainer(
        copy.deepcopy(model),
        loss,
        ClassWeightSchedule(None, counts),
        cfg,
        torch.device("cpu"),
        AdversarialExamples(adversarial, counts),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=1024)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--width", type=int, default=32)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    torch.manual_seed(0)
    counts = np.asarray(exponential_counts(5000, 10, 50))
    counts = np.maximum(np.round(counts * args.images / counts.sum()).astype(int), 2)
    labels = np.repeat(np.arange(10), counts)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (len(labels), args.size, args.size, 3), dtype=np.uint8)
    model = build_classifier(
        {
            "name": "small_cnn",
            "width": args.width,
            "num_classes": 10,
            "channels": 3,
            "mean": [0.5] * 3,
            "std": [0.25] * 3,
        }
    )
    trainers = {
        name: trainer_for(cfg, model, counts, args)
        for name, cfg in (("PGD-AT", PGD_AT), ("REAT", REAT))
    }
    for trainer in trainers.values():
        trainer.train_data = (torch.as_tensor(images), torch.as_tensor(labels))
        trainer.train_counts = counts
    print(
        f"{len(labels)} images {args.size} px, class counts {counts.tolist()}, torch "
        f"{torch.__version__}, {torch.get_num_threads()} threads"
    )
    seconds = {name: [] for name in trainers}
    for repeat in range(args.repeats + 1):  # the first round warms up, uncounted
        for name, trainer in trainers.items():
            began = time.perf_counter()
            trainer.train_unit(repeat)
            elapsed = time.perf_counter() - began
            if repeat:
                seconds[name].append(elapsed)
                print(f"  {name:7s} epoch {repeat}: {elapsed:.2f} s")
    medians = {name: statistics.median(s) for name, s in seconds.items()}
    for name, median in medians.items():
        print(f"{name:7s} median {median:.2f} s per epoch")
    print(f"REAT / PGD-AT epoch time: {medians['REAT'] / medians['PGD-AT']:.3f}x (target <= 1.1x)")


if __name__ == "__main__":
    main()
