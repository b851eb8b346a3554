"""Model files: save, load and check them, whatever the network family.

A model file (``model.pt``, ``generator.pt``) holds plain data only (tensors, numbers,
strings, lists, dicts), so it loads with ``torch.load(..., weights_only=True)``:
``{"kind": "classifier" | "generator", "arch": {...}, "state_dict": {...}, ...metadata}``.
``arch`` carries everything the family's builder needs. This module knows no family:
the builders live beside their networks (:mod:`advtail.nets.classifiers`,
:mod:`advtail.nets.gans`), so a classifier rule never depends on the GAN networks.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import torch

from advtail.data.arrays import atomic_write_bytes
from advtail.errors import DataFileError, one_line


def atomic_torch_save(payload, path: str | Path) -> None:
    """``torch.save`` to a temporary file beside ``path``, then rename it into place."""
    atomic_write_bytes(path, lambda handle: torch.save(payload, handle))


def save_model(
    path: str | Path, model: torch.nn.Module, arch: dict, kind: str = "classifier", **meta
) -> None:
    """Write a model file of ``kind`` atomically (a temporary file renamed into place)."""
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    atomic_torch_save({"kind": kind, "arch": arch, "state_dict": state, **meta}, path)


def load_torch_file(path: str | Path, what: str = "model file", ours: bool = True):
    """``torch.load`` of a weights-only file on the CPU; a missing or unreadable file is a
    :class:`DataFileError` naming it and ``what`` was expected."""
    path = Path(path)
    if not path.is_file():
        raise DataFileError(path, f"{what} not found")
    # a file advtail wrote, or one from elsewhere (e.g. published weights)
    described = f"{what} advtail wrote" if ours else f"readable {what}"
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any failure means the file is not ours
        raise DataFileError(
            path, f"not a {described} (torch.load: {load_failure_cause(err)})"
        ) from None


def load_failure_cause(err: Exception) -> str:
    """The cause of a failed weights-only ``torch.load``, on one line.

    Torch's message leads with advice to retry with ``weights_only=False``, which would
    let the file run code; advtail never does that, so only the cause is kept.
    """
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(err))
    marker = "WeightsUnpickler error:"
    if marker in text:  # torch up to 2.x: the cause follows this marker
        text = text.split(marker, 1)[1]
    # later torch: paragraphs of advice around the cause; keep the cause alone
    advice = ("weights_only", "Weights only load failed", "Check the documentation")
    paragraphs = [p for p in re.split(r"\n\s*\n", text) if p.strip()]
    kept = [p for p in paragraphs if not any(words in p for words in advice)]
    text = "\n".join(kept) if kept else text
    text = re.split(r"Please use `torch\.serialization|Check the documentation", text)[0]
    cause = one_line(text) or type(err).__name__
    return f"{type(err).__name__}: {cause}"


def read_model_file(path: str | Path, kind: str) -> dict:
    """The dict in a model file, checked to be of ``kind``; errors name the file."""
    payload = load_torch_file(path, "model file")
    if not isinstance(payload, dict) or payload.get("kind") != kind:
        found = payload.get("kind") if isinstance(payload, dict) else type(payload).__name__
        raise DataFileError(path, f"expected a {kind} model file, found {found!r}")
    return payload


def load_model(
    path: str | Path,
    kind: str,
    registry: dict,
    build: Callable[[dict], torch.nn.Module],
    device: str | torch.device = "cpu",
):
    """(network in eval mode on ``device``, the file's dict); errors name the file.

    ``registry`` holds the family's architecture names, ``build(arch)`` makes one.
    """
    payload = read_model_file(path, kind)
    arch = payload.get("arch")
    if not isinstance(arch, dict) or arch.get("name") not in registry:
        raise DataFileError(
            path, f"unknown {kind} architecture {arch!r}; expected one of {sorted(registry)}"
        )
    try:
        model = build(arch)
        model.load_state_dict(payload["state_dict"])
    except (RuntimeError, ValueError, KeyError, TypeError) as err:
        cause = one_line(err)
        raise DataFileError(
            path, f"weights do not fit architecture {arch['name']} ({type(err).__name__}: {cause})"
        ) from None
    return model.to(device).eval(), payload
