"""Which network FID and IS run on: pytorch-fid's InceptionV3 or the annotator.

Resolved once at workflow start (no torch import here): a configured weights file
(which must exist), else pytorch-fid's file in torch hub's cache, else the annotator's
features, which are reported as ``fid_annotator`` and never as an Inception FID.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from advtail.errors import ConfigError

INCEPTION_FILE = "pt_inception-2015-12-05-6726825d.pth"  # pytorch-fid's FID_WEIGHTS_URL name
BACKBONE_CHOICES = ("auto", "inception", "annotator")


def hub_cache_weights() -> Path:
    """Where pytorch-fid's download lands: torch hub's checkpoint cache.

    The rule of ``torch.hub.get_dir()`` ($TORCH_HOME/hub, else
    $XDG_CACHE_HOME/torch/hub, else ~/.cache/torch/hub), without importing torch: the
    workflow resolves this at start, where a torch import would cost seconds.
    """
    torch_home = os.environ.get("TORCH_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "torch"
    )
    return Path(os.path.expanduser(torch_home)) / "hub" / "checkpoints" / INCEPTION_FILE


@dataclass(frozen=True)
class FIDBackbone:
    """The resolved choice: ``name`` is ``inception`` (with ``weights``) or ``annotator``."""

    name: str
    weights: str | None = None
    reason: str = ""


def resolve_fid_backbone(evaluation: dict) -> FIDBackbone:
    """Pick the FID/IS backbone from the ``evaluation`` config section.

    ``fid_backbone: auto`` uses Inception when weights exist (the configured path, else
    torch hub's cache) and the annotator otherwise; ``inception`` requires the weights;
    ``annotator`` never looks for them. A configured path that does not exist is an error.
    """
    choice = evaluation.get("fid_backbone", "auto")
    configured = evaluation.get("inception_weights")
    if configured:
        if not Path(configured).is_file():
            raise ConfigError(
                "evaluation.inception_weights",
                f"an existing file of pytorch-fid's Inception weights ({INCEPTION_FILE})",
                configured,
            )
        if choice != "annotator":
            return FIDBackbone("inception", str(configured), "configured weights")
    if choice == "annotator":
        return FIDBackbone("annotator", None, "evaluation.fid_backbone is 'annotator'")
    cached = hub_cache_weights()
    if cached.is_file():
        return FIDBackbone("inception", str(cached), "torch hub cache")
    if choice == "inception":
        raise ConfigError(
            "evaluation.fid_backbone",
            f"Inception weights: set evaluation.inception_weights, or put {INCEPTION_FILE} "
            f"(pytorch-fid's download) at {cached}",
            "inception",
        )
    return FIDBackbone(
        "annotator",
        None,
        f"no Inception weights (evaluation.inception_weights unset, {cached} absent): FID and "
        "IS fall back to the annotator's features, reported as fid_annotator, not Inception FID",
    )
