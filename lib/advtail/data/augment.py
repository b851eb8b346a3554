"""Batch augmentation on [-1, 1] NCHW tensors, driven by an explicit generator.

Random numbers come from a ``torch.Generator`` the caller seeds per epoch, so a
resumed training draws exactly what an uninterrupted one would.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def random_crop_flip(
    x: torch.Tensor, generator: torch.Generator, padding: int = 0, flip: bool = False
) -> torch.Tensor:
    """Pad by ``padding`` with black (-1), crop back at a random offset; optionally mirror.

    This is torchvision's RandomCrop(size, padding) + RandomHorizontalFlip as LDAM-DRW
    uses them, vectorised over the batch.
    """
    n, _, h, w = x.shape
    if padding > 0:
        padded = F.pad(x, (padding, padding, padding, padding), value=-1.0)
        dy = torch.randint(0, 2 * padding + 1, (n,), generator=generator).to(x.device)
        dx = torch.randint(0, 2 * padding + 1, (n,), generator=generator).to(x.device)
        rows = (dy[:, None] + torch.arange(h, device=x.device))[:, None, :, None]
        cols = (dx[:, None] + torch.arange(w, device=x.device))[:, None, None, :]
        batch = torch.arange(n, device=x.device)[:, None, None, None]
        channel = torch.arange(x.shape[1], device=x.device)[None, :, None, None]
        x = padded[batch, channel, rows, cols]
    if flip:
        mirror = (torch.rand(n, generator=generator) < 0.5).to(x.device)
        x = torch.where(mirror[:, None, None, None], x.flip(3), x)
    return x
