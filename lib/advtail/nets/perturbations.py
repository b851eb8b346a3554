"""The perturbation generator of Generative Adversarial Perturbations (Poursaeed et al.,
CVPR 2018), in its universal mode: one fixed noise input, one perturbation for every
image.

ResNet generator (Johnson et al.'s image-transformation net, as GAP uses it):
reflect-pad, 7x7 conv, two stride-2 downsamplings (width -> 2 width -> 4 width),
``blocks`` residual blocks, two transposed-conv upsamplings, 7x7 conv, tanh; batch
norm after every conv but the last; weights N(0, 0.02). The raw output is scaled per
channel to the L-inf budget (GAP's ``normalize_and_scale``).
"""

from __future__ import annotations

import torch
from torch import nn


class _ResidualBlock(nn.Module):
    def __init__(self, width: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.ReflectionPad2d(1),
            nn.Conv2d(width, width, 3, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(True),
            nn.ReflectionPad2d(1),
            nn.Conv2d(width, width, 3, bias=False),
            nn.BatchNorm2d(width),
        )

    def forward(self, x):
        return x + self.body(x)


class ResnetPerturbationGenerator(nn.Module):
    """GAP's ResNet generator: ``channels`` in and out, spatial size kept (a multiple of 4)."""

    def __init__(self, channels: int, width: int = 64, blocks: int = 6):
        super().__init__()
        layers = [
            nn.ReflectionPad2d(3),
            nn.Conv2d(channels, width, 7, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(True),
        ]
        for factor in (1, 2):  # width -> 2 width -> 4 width
            layers += [
                nn.Conv2d(width * factor, width * factor * 2, 3, 2, 1, bias=False),
                nn.BatchNorm2d(width * factor * 2),
                nn.ReLU(True),
            ]
        layers += [_ResidualBlock(width * 4) for _ in range(blocks)]
        for factor in (4, 2):
            layers += [
                nn.ConvTranspose2d(width * factor, width * factor // 2, 3, 2, 1, 1, bias=False),
                nn.BatchNorm2d(width * factor // 2),
                nn.ReLU(True),
            ]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(width, channels, 7), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
                nn.init.normal_(module.weight, 0.0, 0.02)
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.normal_(module.weight, 1.0, 0.02)
                nn.init.zeros_(module.bias)

    def forward(self, noise: torch.Tensor) -> torch.Tensor:
        return self.net(noise)


def scale_to_budget(delta: torch.Tensor, eps: float) -> torch.Tensor:
    """Each channel of each perturbation multiplied by min(1, eps / its L-inf norm):
    inside the L-inf ball of radius ``eps`` (GAP's ``normalize_and_scale``)."""
    peak = delta.detach().abs().flatten(2).amax(dim=2).clamp_min(1e-12)  # (N, C)
    factor = (eps / peak).clamp(max=1.0)
    return delta * factor[:, :, None, None]


class UniversalPerturbationGenerator(nn.Module):
    """GAP's universal mode: the generator of one fixed noise image (uniform in
    [-1, 1], drawn once from ``seed``) gives the perturbation, scaled to ``eps`` (on the
    models' [-1, 1] scale)."""

    def __init__(
        self,
        channels: int,
        image_size: int,
        eps: float,
        width: int = 64,
        blocks: int = 6,
        seed: int = 0,
    ):
        super().__init__()
        if image_size % 4:
            raise ValueError(f"image size must be a multiple of 4, got {image_size}")
        self.eps = eps
        self.generator = ResnetPerturbationGenerator(channels, width, blocks)
        rng = torch.Generator().manual_seed(seed)
        noise = torch.rand(1, channels, image_size, image_size, generator=rng) * 2 - 1
        self.register_buffer("noise", noise)

    def forward(self) -> torch.Tensor:
        """The perturbation, shape (1, C, H, W), every value within +-eps."""
        return scale_to_budget(self.generator(self.noise), self.eps)
