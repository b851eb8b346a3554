"""Build a classifier from its architecture dict; save and load model files.

A model file (``model.pt``) holds plain data only (tensors, numbers, strings, lists,
dicts), so it loads with ``torch.load(..., weights_only=True)``:
``{"kind": "classifier", "arch": {...}, "state_dict": {...}, ...metadata}``.
``arch`` carries everything ``build_classifier`` needs: ``name``, ``num_classes``,
``channels``, ``mean``, ``std`` and the architecture's own keyword arguments.
"""

from __future__ import annotations

import inspect
from pathlib import Path

import torch

from advtail.errors import DataFileError
from advtail.nets.classifiers import ARCHITECTURES, Classifier

ARCH_KEYS = {"name", "num_classes", "channels", "mean", "std"}


def build_classifier(arch: dict) -> Classifier:
    """A freshly initialised classifier described by ``arch``."""
    builder = ARCHITECTURES[arch["name"]]
    allowed = set(inspect.signature(builder).parameters)
    kwargs = {k: v for k, v in arch.items() if k not in ARCH_KEYS}
    unknown = set(kwargs) - allowed
    if unknown:
        raise ValueError(f"architecture '{arch['name']}' takes no {sorted(unknown)}")
    return builder(arch["num_classes"], arch["channels"], arch["mean"], arch["std"], **kwargs)


def save_model(
    path: str | Path, model: torch.nn.Module, arch: dict, kind: str = "classifier", **meta
) -> None:
    """Write a model file of ``kind`` atomically (a temporary file renamed into place)."""
    from advtail.training.checkpointing import atomic_torch_save

    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    atomic_torch_save({"kind": kind, "arch": arch, "state_dict": state, **meta}, path)


def load_torch_file(path: str | Path, what: str = "model file"):
    """``torch.load`` of a weights-only file on the CPU; a missing or unreadable file is a
    :class:`DataFileError` naming it and ``what`` was expected."""
    path = Path(path)
    if not path.is_file():
        raise DataFileError(path, f"{what} not found")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any failure means the file is not ours
        first = (str(err).splitlines() or [""])[0][:200]
        raise DataFileError(
            path, f"not a readable {what} ({type(err).__name__}: {first})"
        ) from None


def read_model_file(path: str | Path, kind: str) -> dict:
    """The dict in a model file, checked to be of ``kind``; errors name the file."""
    payload = load_torch_file(path, "model file")
    if not isinstance(payload, dict) or payload.get("kind") != kind:
        found = payload.get("kind") if isinstance(payload, dict) else type(payload).__name__
        raise DataFileError(path, f"expected a {kind} model file, found {found!r}")
    return payload


def _load_model(path, kind: str, registry: dict, build, device):
    """(network in eval mode on ``device``, the file's dict); errors name the file."""
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
        first = str(err).strip().splitlines()
        raise DataFileError(
            path,
            f"weights do not fit architecture {arch['name']} ({first[0][:300] if first else err})",
        ) from None
    return model.to(device).eval(), payload


def load_classifier(path: str | Path, device: str | torch.device = "cpu"):
    """(model in eval mode on ``device``, the file's dict) from a classifier ``model.pt``."""
    return _load_model(path, "classifier", ARCHITECTURES, build_classifier, device)


def build_generator(arch: dict):
    """A generator from ``{name, resolution, channels, latent_dim, width, num_classes}``."""
    from advtail.nets.gans import GENERATORS

    kwargs = {k: v for k, v in arch.items() if k != "name"}
    return GENERATORS[arch["name"]](**kwargs)


def build_discriminator(arch: dict):
    """A discriminator from ``{name, resolution, channels, width, head, num_classes, sn}``."""
    from advtail.nets.gans import DISCRIMINATORS

    kwargs = {k: v for k, v in arch.items() if k != "name"}
    return DISCRIMINATORS[arch["name"]](**kwargs)


def load_generator(path: str | Path, device: str | torch.device = "cpu"):
    """(generator in eval mode on ``device``, the file's dict) from a ``generator.pt``."""
    from advtail.nets.gans import GENERATORS

    return _load_model(path, "generator", GENERATORS, build_generator, device)
