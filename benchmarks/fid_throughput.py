"""FID feature extraction: advtail's in-memory path against pytorch-fid's own.

Both run the same pytorch-fid InceptionV3 on the same images, side by side in one
process: pytorch-fid's ``get_activations`` on PNG files (its CLI's batch size and
DataLoader workers; writing the PNGs is not timed), and
``advtail.metrics.inception.inception_activations`` on the uint8 array. Prints the
seconds of each, the speed ratio (target: ours at least 1.5x) and the largest
difference of the feature means and covariances, absolute and relative to their
largest value (target: below 1e-4).

    python benchmarks/fid_throughput.py [--images 256] [--weights PATH] [--device auto]

Without ``--weights`` (or pytorch-fid's file in torch hub's cache) the network has
random weights: the timing is the same, and the statistics still have to agree.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def digits_images(n: int, size: int) -> np.ndarray:
    """``n`` uint8 grey images of scikit-learn's digits, upscaled to ``size`` pixels."""
    from sklearn.datasets import load_digits

    digits = load_digits().images  # 8x8, values 0..16
    rng = np.random.default_rng(0)
    picked = torch.as_tensor(digits[rng.choice(len(digits), n)] / 16.0, dtype=torch.float32)
    up = torch.nn.functional.interpolate(picked[:, None], size=(size, size), mode="bilinear")
    return (up.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()


def time_best(fn, repeats: int):
    best, out = float("inf"), None
    for _ in range(repeats):
        began = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - began)
    return best, out


def main() -> None:
    from advtail.metrics.fid_backbone import hub_cache_weights
    from advtail.metrics.generation import feature_statistics
    from advtail.metrics.inception import (
        InceptionFeatures,
        inception_activations,
        load_inception_state,
        random_inception_state,
    )
    from advtail.training.runtime import resolve_device
    from PIL import Image
    from pytorch_fid.fid_score import get_activations

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--weights", default=None)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--batch-size", type=int, default=200, help="advtail's batch size")
    parser.add_argument("--repeats", type=int, default=2, help="best of this many runs")
    args = parser.parse_args()

    device = resolve_device(args.device)
    weights = args.weights or (hub_cache_weights() if hub_cache_weights().is_file() else None)
    state = load_inception_state(weights) if weights else random_inception_state()
    which = f"weights {weights}" if weights else "random weights"
    # two instances: ours is fused and channels-last, pytorch-fid's stays as it builds it
    model = InceptionFeatures(state).to(device)
    reference = InceptionFeatures(state, fuse=False).to(device)
    images = digits_images(args.images, args.size)
    workers = min(len(os.sched_getaffinity(0)), 8)  # pytorch-fid's CLI default
    print(
        f"{args.images} images {args.size}px, device {device}, {which}, torch {torch.__version__}"
    )

    with tempfile.TemporaryDirectory() as tmp:
        files = []
        for i, image in enumerate(images):
            files.append(str(Path(tmp) / f"{i:05d}.png"))
            Image.fromarray(image[..., 0]).save(files[-1])

        def theirs():
            return get_activations(files, reference.net, 50, 2048, device, workers)

        def ours():
            return inception_activations(model, images, device, args.batch_size)

        ours()  # warm-up (allocations, cuDNN autotune) of both paths
        reference.net(torch.rand(2, 3, args.size, args.size, device=device))
        t_theirs, a_theirs = time_best(theirs, args.repeats)
        t_ours, a_ours = time_best(ours, args.repeats)

    mu_t, sigma_t = feature_statistics(a_theirs)
    mu_o, sigma_o = feature_statistics(a_ours)
    print(f"pytorch-fid get_activations (PNG files, batch 50, {workers} workers): {t_theirs:.2f} s")
    print(f"advtail inception_activations (uint8 array, batch {args.batch_size}): {t_ours:.2f} s")
    print(f"speed ratio (pytorch-fid / advtail): {t_theirs / t_ours:.2f}x  (target >= 1.5x)")
    d_mu, d_sigma = np.abs(mu_t - mu_o).max(), np.abs(sigma_t - sigma_o).max()
    print(f"largest difference: mu {d_mu:.2e}, sigma {d_sigma:.2e}")
    # random weights give activations ~100x the real network's; relative is comparable
    print(
        f"relative to the largest value: mu {d_mu / np.abs(mu_t).max():.2e}, "
        f"sigma {d_sigma / np.abs(sigma_t).max():.2e}  (target < 1e-4)"
    )


if __name__ == "__main__":
    main()
