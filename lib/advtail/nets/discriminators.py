"""GAN discriminators, parametric in resolution, channels and width (the generators are in
:mod:`advtail.nets.gans`; these live apart because a discriminator is also a classifier:
Rob-GAN fine-tunes its class head into one, :mod:`advtail.nets.classifiers`).

- SNDCGAN D (Miyato et al. 2018, as the class-balancing GAN uses it; reference notes):
  log2(R/4) blocks [conv 3x3 s1, conv 4x4 s2] (LeakyReLU 0.1) from C to w * 2^(n-1)
  channels, conv 3x3, global sum pooling, linear -> 1; spectral norm on every layer
  unless ``sn`` is off (Rob-GAN and Fast-RobGAN train D without it).
- SN-ResNet D (Miyato et al. 2018, 32 and 64 px): residual down-blocks.

Heads: ``none`` (unconditional), ``projection`` (Miyato & Koyama 2018: D(x, y) = psi(h)
+ <embed(y), h>) or ``ac`` (auxiliary classifier, Odena et al. 2017: class logits from
the same features). Every discriminator returns ``(adversarial logit [N], class logits
[N, K] or None)``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

HEADS = ("none", "projection", "ac")


def resolution_steps(resolution: int) -> int:
    """log2(resolution / 4): the up- or down-sampling blocks of a network at ``resolution``."""
    steps = math.log2(resolution / 4)
    if resolution < 8 or steps != int(steps):
        raise ValueError(f"resolution must be 4 * 2^n (8, 16, 32, 64, ...), got {resolution}")
    return int(steps)


def _sn(module: nn.Module, use: bool) -> nn.Module:
    return spectral_norm(module) if use else module


class Discriminator(nn.Module):
    """Base: features ``h`` from a trunk, then the adversarial and class heads."""

    def __init__(self, feature_dim: int, head: str, num_classes: int | None, sn: bool):
        super().__init__()
        if head not in HEADS:
            raise ValueError(f"head must be one of {HEADS}, got {head!r}")
        if head != "none" and not num_classes:
            raise ValueError(f"a '{head}' head needs num_classes")
        self.head = head
        self.num_classes = num_classes
        self.linear = _sn(nn.Linear(feature_dim, 1), sn)
        self.embed = (
            _sn(nn.Embedding(num_classes, feature_dim), sn) if head == "projection" else None
        )
        self.classify = _sn(nn.Linear(feature_dim, num_classes), sn) if head == "ac" else None

    def features(self, x) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x, y=None):
        h = self.features(x)
        adversarial = self.linear(h).squeeze(1)
        class_logits = None
        if self.embed is not None:
            if y is None:
                raise ValueError("a projection discriminator needs labels")
            adversarial = adversarial + (self.embed(y) * h).sum(dim=1)
        if self.classify is not None:
            class_logits = self.classify(h)
        return adversarial, class_logits


class DCGANDiscriminator(Discriminator):
    def __init__(
        self,
        resolution: int = 32,
        channels: int = 3,
        width: int = 64,
        head: str = "none",
        num_classes: int | None = None,
        sn: bool = True,
    ):
        n = resolution_steps(resolution)
        top = width * 2**n
        super().__init__(top, head, num_classes, sn)
        layers, c_in = [], channels
        for i in range(n):
            c_out = width * 2**i
            layers += [
                _sn(nn.Conv2d(c_in, c_out, 3, 1, 1), sn),
                nn.LeakyReLU(0.1),
                _sn(nn.Conv2d(c_out, c_out, 4, 2, 1), sn),
                nn.LeakyReLU(0.1),
            ]
            c_in = c_out
        layers += [_sn(nn.Conv2d(c_in, top, 3, 1, 1), sn), nn.LeakyReLU(0.1)]
        self.trunk = nn.Sequential(*layers)

    def features(self, x):
        return self.trunk(x).sum(dim=(2, 3))  # global sum pooling


# ----------------------------------------------------------------------------- SN-ResNet


class _DBlock(nn.Module):
    """Residual down-block (ReLU first unless it is the first block), average-pool x2."""

    def __init__(self, c_in: int, c_out: int, sn: bool, first: bool, down: bool):
        super().__init__()
        self.first, self.down = first, down
        self.conv1 = _sn(nn.Conv2d(c_in, c_out, 3, 1, 1), sn)
        self.conv2 = _sn(nn.Conv2d(c_out, c_out, 3, 1, 1), sn)
        self.shortcut = _sn(nn.Conv2d(c_in, c_out, 1), sn)

    def forward(self, x):
        h = x if self.first else F.relu(x)
        h = self.conv2(F.relu(self.conv1(h)))
        shortcut = self.shortcut(x)
        if self.down:
            h, shortcut = F.avg_pool2d(h, 2), F.avg_pool2d(shortcut, 2)
        return h + shortcut


class ResNetDiscriminator(Discriminator):
    def __init__(
        self,
        resolution: int = 32,
        channels: int = 3,
        width: int = 128,
        head: str = "none",
        num_classes: int | None = None,
        sn: bool = True,
    ):
        super().__init__(width, head, num_classes, sn)
        n = resolution_steps(resolution)
        blocks = [_DBlock(channels, width, sn, first=True, down=True)]
        blocks += [_DBlock(width, width, sn, first=False, down=i < n - 2) for i in range(n)]
        self.trunk = nn.Sequential(*blocks)

    def features(self, x):
        return F.relu(self.trunk(x)).sum(dim=(2, 3))


DISCRIMINATORS = {"sndcgan": DCGANDiscriminator, "snresgan": ResNetDiscriminator}


def build_discriminator(arch: dict) -> Discriminator:
    """A discriminator from ``{name, resolution, channels, width, head, num_classes, sn}``."""
    kwargs = {k: v for k, v in arch.items() if k != "name"}
    return DISCRIMINATORS[arch["name"]](**kwargs)
