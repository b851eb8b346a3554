"""Drawing images from a generator, outside any trainer (validation, sample files and
universal-perturbation crafting all sample the same way)."""

from __future__ import annotations

import numpy as np
import torch


@torch.no_grad()
def generate_images(
    generator, n: int, rng: torch.Generator, device, labels=None, batch_size: int = 256
) -> torch.Tensor:
    """``n`` images in [-1, 1] (CPU); ``labels`` condition a conditional generator."""
    generator.eval()
    out = []
    for start in range(0, n, batch_size):
        count = min(batch_size, n - start)
        z = generator.sample_latent(count, rng, device)
        y = None if labels is None else torch.as_tensor(labels[start : start + count]).to(device)
        out.append(generator(z, y).float().cpu())
    return torch.cat(out)


def to_uint8_nhwc(images: torch.Tensor) -> np.ndarray:
    """[-1, 1] NCHW floats -> uint8 NHWC (the canonical on-disk form)."""
    scaled = ((images.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return scaled.permute(0, 2, 3, 1).numpy()


def balanced_labels(n: int, num_classes: int) -> np.ndarray:
    """0, 1, ..., K-1, 0, 1, ...: ``n`` conditioning labels spread evenly over classes."""
    return (np.arange(n) % num_classes).astype(np.int64)
