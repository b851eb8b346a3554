"""Devices, threads, seeds and numeric precision."""

from __future__ import annotations

import contextlib
import random
from dataclasses import dataclass

import numpy as np
import torch

from advtail.errors import ConfigError


def resolve_device(name: str = "auto") -> torch.device:
    """``auto``: CUDA when present, else the CPU; ``cuda`` without a GPU is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device", "no GPU is visible to this job", "cuda")
    return torch.device(name)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def set_threads(threads: int | None) -> None:
    if threads:
        torch.set_num_threads(int(threads))


PRECISION_AUTOCAST = ("none", "bf16")


@dataclass(frozen=True)
class Precision:
    """How a training run computes on its device (an entry's ``precision`` block).

    ``autocast: bf16`` runs the forward passes (networks, the attacks inside training, the
    losses' inputs) under ``torch.autocast`` in bfloat16, and casts the networks' outputs
    back to float32 before any loss, so the GAN objectives and cross-entropies are
    computed in float32; the weights, gradients and optimizer state stay float32.
    Backward passes run outside the autocast region, as PyTorch recommends.
    ``channels_last``: convolution weights and image batches in NHWC memory order (faster
    on tensor cores; often slower for small networks on a CPU, so off by default).
    ``cudnn_benchmark``: let cuDNN time its convolution algorithms (CUDA only; results are
    then not bit-reproducible run to run, so off unless asked).
    Evaluation (attacks measuring robust accuracy) always runs in float32: rounding the
    gradients to bfloat16 could weaken an attack and overstate robustness.
    """

    autocast: str = "none"
    channels_last: bool = False
    cudnn_benchmark: bool = False

    @classmethod
    def from_config(cls, cfg: dict | None) -> Precision:
        cfg = dict(cfg or {})
        autocast = cfg.get("autocast", "none")
        if autocast not in PRECISION_AUTOCAST:
            raise ConfigError(
                "precision.autocast", f"expected one of {PRECISION_AUTOCAST}", autocast
            )
        return cls(
            autocast, bool(cfg.get("channels_last", False)), bool(cfg.get("cudnn_benchmark"))
        )

    def prepare(self, device: torch.device | str, *modules: torch.nn.Module) -> None:
        """Set the backend flags for ``device`` and the modules' memory format."""
        if torch.device(device).type == "cuda":
            torch.backends.cudnn.benchmark = self.cudnn_benchmark
        if self.channels_last:
            for module in modules:
                module.to(memory_format=torch.channels_last)

    def images(self, x: torch.Tensor) -> torch.Tensor:
        """An image batch in the networks' memory format."""
        if self.channels_last and x.dim() == 4:
            return x.contiguous(memory_format=torch.channels_last)
        return x

    def forward(self, device: torch.device | str):
        """The context of forward passes: bf16 autocast on ``device``, or nothing."""
        if self.autocast == "bf16":
            return torch.autocast(device_type=torch.device(device).type, dtype=torch.bfloat16)
        return contextlib.nullcontext()


def as_float(*tensors):
    """Network outputs in float32 (None stays None): losses are computed in float32."""
    out = tuple(None if t is None else t.float() for t in tensors)
    return out if len(out) > 1 else out[0]
