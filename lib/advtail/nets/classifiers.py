"""Image classifiers: ResNet-32 (LDAM-DRW), ResNet-18 and WRN-28-10 (CIFAR variants), a
small CNN, and a GAN discriminator's class head (Rob-GAN's fine-tuned classifier).

Every classifier takes images in [-1, 1] (NCHW) of any size >= 8 px and the
configured channel count, and normalises them inside the model
(:class:`InputNormalization`), so every caller passes the same range. Each exposes
``features(x)`` (the penultimate, pooled features; REAT's TAIL and the FID on
annotator features use them) and ``head`` (the last layer).
"""

from __future__ import annotations

import inspect
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from advtail.errors import DataFileError
from advtail.nets.discriminators import DISCRIMINATORS, build_discriminator
from advtail.nets.files import load_model

# Per-channel statistics of CIFAR-10 in [0, 1] (as kaidic/LDAM-DRW normalises).
CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR_STD = (0.2023, 0.1994, 0.2010)


class InputNormalization(nn.Module):
    """Map [-1, 1] images to [0, 1], then standardise with per-channel mean and std."""

    def __init__(self, mean, std):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, x):
        return ((x + 1) * 0.5 - self.mean) / self.std


class NormedLinear(nn.Module):
    """Cosine classifier: logits are cosines between features and class weights (LDAM)."""

    def __init__(self, in_features: int, out_features: int):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(in_features, out_features))
        self.weight.data.uniform_(-1, 1).renorm_(2, 1, 1e-5).mul_(1e5)

    def forward(self, x):
        return F.normalize(x, dim=1) @ F.normalize(self.weight, dim=0)


def _head(in_features: int, num_classes: int, normed: bool) -> nn.Module:
    return NormedLinear(in_features, num_classes) if normed else nn.Linear(in_features, num_classes)


class Classifier(nn.Module):
    """Normalisation, a feature trunk ending in global average pooling, and a head."""

    def __init__(
        self,
        trunk: nn.Module,
        feature_dim: int,
        num_classes: int,
        mean,
        std,
        normed_head: bool = False,
    ):
        super().__init__()
        self.normalize = InputNormalization(mean, std)
        self.trunk = trunk
        self.feature_dim = feature_dim
        self.head = _head(feature_dim, num_classes, normed_head)

    def features(self, x):
        out = self.trunk(self.normalize(x))
        return torch.flatten(F.adaptive_avg_pool2d(out, 1), 1)

    def forward(self, x):
        return self.head(self.features(x))


# ----------------------------------------------------------------------------- ResNet-32


class _OptionAShortcut(nn.Module):
    """Parameter-free shortcut: subsample by 2 and zero-pad the new channels (He et al.)."""

    def __init__(self, planes: int):
        super().__init__()
        self.pad = planes // 4

    def forward(self, x):
        return F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, self.pad, self.pad))


class _BasicBlock(nn.Module):
    # the residual branch's last module (skip-gradient scales the gradient through it)
    branch_end = "bn2"

    def __init__(self, in_planes: int, planes: int, stride: int, option_a: bool):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_planes != planes:
            if option_a:
                self.shortcut = _OptionAShortcut(planes)
            else:
                self.shortcut = nn.Sequential(
                    nn.Conv2d(in_planes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes)
                )

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


def _kaiming_init(module: nn.Module) -> None:
    if isinstance(module, nn.Linear | nn.Conv2d):
        nn.init.kaiming_normal_(module.weight)


def _resnet_trunk(channels: int, widths, blocks: int, option_a: bool) -> nn.Sequential:
    """3x3 stem, then ``blocks`` basic blocks per stage; each later stage halves the size."""
    layers, in_planes = [], widths[0]
    for i, planes in enumerate(widths):
        for j in range(blocks):
            stride = 2 if (i > 0 and j == 0) else 1
            layers.append(_BasicBlock(in_planes, planes, stride, option_a))
            in_planes = planes
    stem = [
        nn.Conv2d(channels, widths[0], 3, 1, 1, bias=False),
        nn.BatchNorm2d(widths[0]),
        nn.ReLU(),
    ]
    return nn.Sequential(*stem, *layers)


def resnet32(
    num_classes: int, channels: int, mean, std, normed_head: bool = False, width: int = 16
) -> Classifier:
    """ResNet-32 for CIFAR sizes: 16/32/64 channels, [5, 5, 5] blocks, option-A shortcuts."""
    widths = (width, 2 * width, 4 * width)
    trunk = _resnet_trunk(channels, widths, blocks=5, option_a=True)
    model = Classifier(trunk, widths[-1], num_classes, mean, std, normed_head)
    model.apply(_kaiming_init)
    return model


def resnet18(
    num_classes: int, channels: int, mean, std, normed_head: bool = False, width: int = 64
) -> Classifier:
    """ResNet-18, CIFAR variant (3x3 stem, no max-pool), projection shortcuts."""
    widths = (width, 2 * width, 4 * width, 8 * width)
    trunk = _resnet_trunk(channels, widths, blocks=2, option_a=False)
    return Classifier(trunk, widths[-1], num_classes, mean, std, normed_head)


# ----------------------------------------------------------------------------- WRN


class _WideBlock(nn.Module):
    """Pre-activation wide residual block (Zagoruyko & Komodakis 2016)."""

    branch_end = "conv2"

    def __init__(self, in_planes: int, planes: int, stride: int, dropout: float):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.dropout = dropout
        self.shortcut = (
            nn.Conv2d(in_planes, planes, 1, stride, bias=False)
            if stride != 1 or in_planes != planes
            else None
        )

    def forward(self, x):
        out = F.relu(self.bn1(x))
        shortcut = x if self.shortcut is None else self.shortcut(out)
        out = self.conv1(out)
        out = F.relu(self.bn2(out))
        if self.dropout:
            out = F.dropout(out, p=self.dropout, training=self.training)
        return self.conv2(out) + shortcut


def wide_resnet(
    num_classes: int,
    channels: int,
    mean,
    std,
    normed_head: bool = False,
    depth: int = 28,
    widen_factor: int = 10,
    dropout: float = 0.0,
) -> Classifier:
    """WRN-depth-k: (depth - 4) / 6 blocks per group, widths 16k / 32k / 64k."""
    if (depth - 4) % 6:
        raise ValueError(f"WRN depth must be 6n + 4, got {depth}")
    n = (depth - 4) // 6
    widths = [16, 16 * widen_factor, 32 * widen_factor, 64 * widen_factor]
    layers, in_planes = [nn.Conv2d(channels, widths[0], 3, 1, 1, bias=False)], widths[0]
    for i, planes in enumerate(widths[1:]):
        for j in range(n):
            layers.append(_WideBlock(in_planes, planes, 2 if (i > 0 and j == 0) else 1, dropout))
            in_planes = planes
    layers += [nn.BatchNorm2d(in_planes), nn.ReLU()]
    model = Classifier(nn.Sequential(*layers), in_planes, num_classes, mean, std, normed_head)
    model.apply(_kaiming_init)
    return model


# ----------------------------------------------------------------------------- small CNN


def small_cnn(
    num_classes: int, channels: int, mean, std, normed_head: bool = False, width: int = 32
) -> Classifier:
    """A fast CNN for the default experiment: three conv stages, global average pooling."""

    def stage(c_in, c_out, pool):
        layers = [
            nn.Conv2d(c_in, c_out, 3, 1, 1, bias=False),
            nn.BatchNorm2d(c_out),
            nn.ReLU(),
            nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False),
            nn.BatchNorm2d(c_out),
            nn.ReLU(),
        ]
        return layers + ([nn.MaxPool2d(2)] if pool else [])

    trunk = nn.Sequential(
        *stage(channels, width, True),
        *stage(width, 2 * width, True),
        *stage(2 * width, 4 * width, False),
    )
    return Classifier(trunk, 4 * width, num_classes, mean, std, normed_head)


# ----------------------------------------------------------------------------- discriminator


class DiscriminatorClassifier(nn.Module):
    """A GAN discriminator with an auxiliary-classifier head, used as a classifier: its
    class logits (Rob-GAN, Sec. 3.3: the fine-tuned discriminator is the robust
    classifier). ``discriminator`` holds exactly the GAN's discriminator, so its weights
    load unchanged; the adversarial head is kept but unused.

    The discriminator reads [-1, 1] images as the GAN trained it: ``mean`` and ``std``
    (which every classifier takes) are recorded, not applied. ``gan``: the family
    (``sndcgan`` or ``snresgan``); ``spectral_norm`` as the GAN's (off for Rob-GAN).
    """

    def __init__(
        self,
        num_classes: int,
        channels: int,
        mean,
        std,
        resolution: int = 32,
        gan: str = "sndcgan",
        width: int = 64,
        spectral_norm: bool = False,
    ):
        super().__init__()
        if gan not in DISCRIMINATORS:
            raise ValueError(
                f"unknown discriminator {gan!r}; expected one of {sorted(DISCRIMINATORS)}"
            )
        self.discriminator = build_discriminator(
            {
                "name": gan,
                "resolution": resolution,
                "channels": channels,
                "width": width,
                "head": "ac",
                "num_classes": num_classes,
                "sn": spectral_norm,
            }
        )
        self.mean, self.std = list(mean), list(std)

    @property
    def head(self) -> nn.Module:
        return self.discriminator.classify

    def features(self, x):
        return self.discriminator.features(x)

    def forward(self, x):
        return self.head(self.features(x))


def discriminator_arch(d_arch: dict) -> dict:
    """The classifier ``arch`` builder keys of a GAN discriminator's ``arch`` dict."""
    return {
        "gan": d_arch["name"],
        "resolution": d_arch["resolution"],
        "width": d_arch["width"],
        "spectral_norm": d_arch["sn"],
    }


ARCHITECTURES = {
    "gan_discriminator": DiscriminatorClassifier,
    "small_cnn": small_cnn,
    "resnet32": resnet32,
    "resnet18": resnet18,
    "wrn": wide_resnet,
}

# Architectures built for one image size (``resolution``, filled in from the images).
SIZED_ARCHITECTURES = {"gan_discriminator"}

# Keys of an ``arch`` dict every classifier takes; the rest go to its builder.
ARCH_KEYS = {"name", "num_classes", "channels", "mean", "std"}


def residual_branch_ends(model: nn.Module) -> list[nn.Module]:
    """The last module of every residual branch in ``model`` (its ResNet / WRN blocks)."""
    return [
        getattr(module, module.branch_end)
        for module in model.modules()
        if isinstance(getattr(module, "branch_end", None), str)
    ]


def build_classifier(arch: dict) -> Classifier:
    """A freshly initialised classifier described by ``arch``."""
    builder = ARCHITECTURES[arch["name"]]
    allowed = set(inspect.signature(builder).parameters)
    kwargs = {k: v for k, v in arch.items() if k not in ARCH_KEYS}
    unknown = set(kwargs) - allowed
    if unknown:
        raise ValueError(f"architecture '{arch['name']}' takes no {sorted(unknown)}")
    return builder(arch["num_classes"], arch["channels"], arch["mean"], arch["std"], **kwargs)


def load_classifier(path: str | Path, device: str | torch.device = "cpu"):
    """(model in eval mode on ``device``, the file's dict) from a classifier ``model.pt``."""
    return load_model(path, "classifier", ARCHITECTURES, build_classifier, device)


def check_classifier_fits(
    model_path, payload: dict, data_path, data, form_only: bool = False
) -> None:
    """The images of ``data`` (an ImageSet read from ``data_path``) are what the
    classifier at ``model_path`` was trained on: channels, classes, image size.
    ``form_only``: channels and image size only (images of other data, such as a UAP
    prior shown to its victim)."""
    arch = payload["arch"]
    shape = data.images.shape
    found = {
        "channels": int(shape[3]),
        "classes": data.num_classes,
        "image size": int(shape[1]),
        "class names": list(data.class_names),
    }
    expected = {
        "channels": arch.get("channels"),
        "classes": arch.get("num_classes"),
        "image size": payload.get("image_size"),
        "class names": payload.get("class_names"),
    }
    if form_only:
        expected = {key: expected[key] for key in ("channels", "image size")}
    for what, value in expected.items():
        if value is not None and value != found[what]:
            raise DataFileError(
                data_path,
                f"{what} {found[what]}, but classifier {model_path} was trained on {what} {value}",
            )
