"""The feature backbone of FID and IS: pytorch-fid's InceptionV3, or the annotator.

FID and IS are only comparable to published numbers on pytorch-fid's InceptionV3 (the
TensorFlow FID network ported to PyTorch). Its weights come from a configured file
(``evaluation.inception_weights``) or torch hub's cache, where pytorch-fid itself puts
them. Where neither exists (an offline machine), the pipeline falls back to the
annotator's penultimate features and says so: those numbers are stored as
``fid_annotator`` and never as an Inception FID.

The extraction follows pytorch-fid's ``get_activations`` (images in [0, 1], grey
repeated to RGB, bilinear resize to 299 and scaling to [-1, 1] inside the network,
the 2048-d pool3 output) but reads the canonical uint8 arrays in memory, in large
batches, under ``inference_mode``, in channels-last layout, with batch norms folded
into the convolutions (the same function):
``benchmarks/fid_throughput.py`` measures it against pytorch-fid's own path.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path

import numpy as np
import torch

from advtail.errors import DataFileError
from advtail.workflow.logs import logged_progress

log = logging.getLogger(__name__)

# keys any FID Inception state dict has (stem, last block, 1008-way logits for IS)
_REQUIRED_KEYS = ("Conv2d_1a_3x3.conv.weight", "Mixed_7c.branch_pool.conv.weight", "fc.weight")


def load_inception_state(path: str | Path) -> dict:
    """The state dict of pytorch-fid's FID Inception network from ``path``, checked."""
    from advtail.nets.files import load_torch_file

    state = load_torch_file(path, "Inception weights file", ours=False)
    if not isinstance(state, dict) or any(k not in state for k in _REQUIRED_KEYS):
        raise DataFileError(
            path,
            f"not pytorch-fid's Inception weights (expected a state dict with {_REQUIRED_KEYS})",
        )
    return state


@contextlib.contextmanager
def _weights_from(state: dict):
    """Make pytorch-fid build its network from ``state`` instead of downloading.

    pytorch-fid's ``fid_inception_v3`` always fetches its URL; swapping its loader for
    the construction keeps its exact architecture while the weights come from a file.
    """
    from pytorch_fid import inception as pf

    original = pf.load_state_dict_from_url
    pf.load_state_dict_from_url = lambda *args, **kwargs: state
    try:
        yield pf
    finally:
        pf.load_state_dict_from_url = original


def random_inception_state(seed: int = 0) -> dict:
    """A random FID-Inception state dict (tests, benchmarks), batch norm calibrated.

    Freshly initialised batch-norm statistics (mean 0, variance 1) let activations grow
    by orders of magnitude through 90 layers; one pass over random images in training
    mode sets them, so features are O(1) as with the real weights.
    """
    import torchvision

    torch.manual_seed(seed)
    net = torchvision.models.inception_v3(
        weights=None, aux_logits=False, num_classes=1008, init_weights=True
    )
    for module in net.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.momentum = None  # a plain average over the calibration pass
    net.train()
    with torch.no_grad():
        net(torch.rand(8, 3, 299, 299, generator=torch.Generator().manual_seed(seed)) * 2 - 1)
    return net.state_dict()


def fuse_batch_norms(net: torch.nn.Module) -> int:
    """Fold every eval-mode batch norm of Inception's conv units into its convolution.

    Each ``BasicConv2d`` computes relu(bn(conv(x))); with frozen statistics bn is an
    affine map, so conv and bn become one convolution with a bias (the same function,
    one pass over the activations fewer). Returns the number of units fused.
    """
    from torch.nn.utils.fusion import fuse_conv_bn_eval
    from torchvision.models.inception import BasicConv2d

    fused = 0
    for unit in net.modules():
        if isinstance(unit, BasicConv2d) and isinstance(unit.bn, torch.nn.BatchNorm2d):
            unit.conv = fuse_conv_bn_eval(unit.conv.eval(), unit.bn.eval())
            unit.bn = torch.nn.Identity()
            fused += 1
    return fused


class InceptionFeatures(torch.nn.Module):
    """pool3 features (2048-d) and the 1008-way logits of the FID Inception network.

    ``fuse``: fold batch norms into convolutions (:func:`fuse_batch_norms`); ``False``
    keeps pytorch-fid's module exactly as it builds it.
    """

    def __init__(self, state: dict, fuse: bool = True):
        super().__init__()
        with _weights_from(state) as pf:
            self.net = pf.InceptionV3(
                [pf.InceptionV3.BLOCK_INDEX_BY_DIM[2048]], resize_input=True, normalize_input=True
            )
        self.net.eval()
        if fuse:
            fuse_batch_norms(self.net)
        self.fc = torch.nn.Linear(2048, state["fc.weight"].shape[0])
        self.fc.load_state_dict({"weight": state["fc.weight"], "bias": state["fc.bias"]})
        self.eval()

    @classmethod
    def from_file(cls, path: str | Path, fuse: bool = True) -> InceptionFeatures:
        return cls(load_inception_state(path), fuse)

    def forward(self, images01: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``images01``: float NCHW in [0, 1], 3 channels. Returns (pool3, logits)."""
        pool = self.net(images01)[0].flatten(1)
        return pool, self.fc(pool)


def uint8_to_unit(images: torch.Tensor) -> torch.Tensor:
    """uint8 NHWC -> float NCHW in [0, 1], grey repeated to RGB (as PIL's convert('RGB'))."""
    x = images.permute(0, 3, 1, 2).float().div_(255.0)
    return x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x


@torch.inference_mode()
def inception_activations(
    model: InceptionFeatures,
    images: np.ndarray,
    device: str | torch.device = "cpu",
    batch_size: int = 200,
    with_logits: bool = False,
    progress: bool = False,
):
    """pool3 activations (N, 2048) of uint8 NHWC ``images``, float64; logits if asked."""
    model = model.to(device).eval()
    channels_last = torch.device(device).type in ("cpu", "cuda")
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    images = torch.as_tensor(images)
    pools, logits = [], []
    starts = range(0, len(images), batch_size)
    for start in logged_progress(starts, "inception features") if progress else starts:
        batch = uint8_to_unit(images[start : start + batch_size].to(device))
        if channels_last:
            batch = batch.contiguous(memory_format=torch.channels_last)
        pool, logit = model(batch)
        pools.append(pool.double().cpu())
        if with_logits:
            logits.append(logit.double().cpu())
    pool = torch.cat(pools).numpy() if pools else np.empty((0, 2048))
    if with_logits:
        return pool, torch.cat(logits).numpy()
    return pool
