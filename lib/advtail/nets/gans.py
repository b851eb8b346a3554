"""GAN generators, parametric in resolution, channels and width (their discriminators
are in :mod:`advtail.nets.discriminators`).

- SNDCGAN G (Miyato et al. 2018, as the class-balancing GAN uses it; reference notes):
  linear z -> (8w)x4x4, log2(R/4) deconv 4x4 stride-2 blocks (BN, LeakyReLU 0.1)
  halving the channels down to w, conv 3x3 -> C, tanh. At 32 px and w = 64 that is
  exactly 512 -> 256 -> 128 -> 64 (and D 3 -> 64 -> 128 -> 256 -> 512).
- SN-ResNet G (Miyato et al. 2018, 32 and 64 px): residual up-blocks.

Conditioning: a generator with ``num_classes`` uses conditional batch norm (per-class
gain and bias, De Vries et al. 2017) and, with ``label_embedding`` > 0, a learnt label
embedding joined to z before the first layer (as AC-GAN's code (Odena et al. 2017) and
BigGAN's shared embedding (Brock et al. 2019) feed y to G). Conditional batch norm alone
starts at the identity for every class and moved too little in short runs to make the
generator follow y (annotator agreement near chance on the digits); the embedding gives
y a path to the very first layer.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from advtail.nets.discriminators import resolution_steps
from advtail.nets.files import load_model


class ConditionalBatchNorm2d(nn.Module):
    """Batch norm whose gain and bias are looked up per class (identity at init)."""

    def __init__(self, channels: int, num_classes: int):
        super().__init__()
        self.bn = nn.BatchNorm2d(channels, affine=False)
        self.gain = nn.Embedding(num_classes, channels)
        self.bias = nn.Embedding(num_classes, channels)
        nn.init.ones_(self.gain.weight)
        nn.init.zeros_(self.bias.weight)

    def forward(self, x, y):
        return self.bn(x) * self.gain(y)[:, :, None, None] + self.bias(y)[:, :, None, None]


class _Norm(nn.Module):
    """Plain batch norm, or conditional batch norm when the generator has classes."""

    def __init__(self, channels: int, num_classes: int | None):
        super().__init__()
        self.norm = (
            ConditionalBatchNorm2d(channels, num_classes)
            if num_classes
            else nn.BatchNorm2d(channels)
        )

    def forward(self, x, y=None):
        return self.norm(x, y) if isinstance(self.norm, ConditionalBatchNorm2d) else self.norm(x)


class Generator(nn.Module):
    """Base of the generators: ``forward(z, y=None)`` gives images in [-1, 1].

    ``label_embedding``: the size of the label embedding joined to z of a conditional
    generator (0: none, conditional batch norm alone).
    """

    def __init__(self, latent_dim: int, num_classes: int | None, label_embedding: int = 0):
        super().__init__()
        self.latent_dim = latent_dim
        self.num_classes = num_classes
        self.label_embed = (
            nn.Embedding(num_classes, label_embedding) if num_classes and label_embedding else None
        )

    @property
    def conditional(self) -> bool:
        return bool(self.num_classes)

    @property
    def input_dim(self) -> int:
        """The size of the first layer's input: z, joined with the label embedding."""
        extra = self.label_embed.embedding_dim if self.label_embed is not None else 0
        return self.latent_dim + extra

    def joined_input(self, z: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        """[z, embed(y)] for a generator with a label embedding, else z."""
        if self.label_embed is None:
            return z
        if y is None:
            raise ValueError("a conditional generator needs labels")
        return torch.cat([z, self.label_embed(y)], dim=1)

    def sample_latent(
        self, n: int, generator: torch.Generator | None = None, device="cpu"
    ) -> torch.Tensor:
        return torch.randn(n, self.latent_dim, generator=generator).to(device)


class DCGANGenerator(Generator):
    def __init__(
        self,
        resolution: int = 32,
        channels: int = 3,
        latent_dim: int = 128,
        width: int = 64,
        num_classes: int | None = None,
        label_embedding: int = 0,
    ):
        super().__init__(latent_dim, num_classes, label_embedding)
        n = resolution_steps(resolution)
        top = width * 2**n
        self.top = top
        self.linear = nn.Linear(self.input_dim, top * 16)
        self.norm0 = _Norm(top, num_classes)
        self.ups = nn.ModuleList()
        self.norms = nn.ModuleList()
        for i in range(n):
            c_in, c_out = top // 2**i, top // 2 ** (i + 1)
            self.ups.append(nn.ConvTranspose2d(c_in, c_out, 4, 2, 1))
            self.norms.append(_Norm(c_out, num_classes))
        self.out = nn.Conv2d(width, channels, 3, 1, 1)

    def forward(self, z, y=None):
        h = self.linear(self.joined_input(z, y)).view(z.shape[0], self.top, 4, 4)
        h = F.leaky_relu(self.norm0(h, y), 0.1)
        for up, norm in zip(self.ups, self.norms, strict=True):
            h = F.leaky_relu(norm(up(h), y), 0.1)
        return torch.tanh(self.out(h))


# ----------------------------------------------------------------------------- SN-ResNet


class _GBlock(nn.Module):
    """Residual up-block: BN, ReLU, upsample x2, conv3x3, BN, ReLU, conv3x3; 1x1 shortcut."""

    def __init__(self, c_in: int, c_out: int, num_classes: int | None):
        super().__init__()
        self.norm1, self.norm2 = _Norm(c_in, num_classes), _Norm(c_out, num_classes)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, 1, 1)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1)
        self.shortcut = nn.Conv2d(c_in, c_out, 1)

    def forward(self, x, y=None):
        h = F.interpolate(F.relu(self.norm1(x, y)), scale_factor=2)
        h = self.conv2(F.relu(self.norm2(self.conv1(h), y)))
        return h + self.shortcut(F.interpolate(x, scale_factor=2))


class ResNetGenerator(Generator):
    def __init__(
        self,
        resolution: int = 32,
        channels: int = 3,
        latent_dim: int = 128,
        width: int = 256,
        num_classes: int | None = None,
        label_embedding: int = 0,
    ):
        super().__init__(latent_dim, num_classes, label_embedding)
        n = resolution_steps(resolution)
        self.width = width
        self.linear = nn.Linear(self.input_dim, width * 16)
        self.blocks = nn.ModuleList(_GBlock(width, width, num_classes) for _ in range(n))
        self.norm = nn.BatchNorm2d(width)
        self.out = nn.Conv2d(width, channels, 3, 1, 1)

    def forward(self, z, y=None):
        h = self.linear(self.joined_input(z, y)).view(z.shape[0], self.width, 4, 4)
        for block in self.blocks:
            h = block(h, y)
        return torch.tanh(self.out(F.relu(self.norm(h))))


GENERATORS = {"sndcgan": DCGANGenerator, "snresgan": ResNetGenerator}


def build_generator(arch: dict) -> Generator:
    """A generator from ``{name, resolution, channels, latent_dim, width, num_classes,
    label_embedding}``."""
    kwargs = {k: v for k, v in arch.items() if k != "name"}
    return GENERATORS[arch["name"]](**kwargs)


def load_generator(path: str | Path, device: str | torch.device = "cpu"):
    """(generator in eval mode on ``device``, the file's dict) from a ``generator.pt``."""
    return load_model(path, "generator", GENERATORS, build_generator, device)
