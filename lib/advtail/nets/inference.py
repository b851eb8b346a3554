"""From canonical uint8 arrays to model inputs, and batched prediction."""

from __future__ import annotations

import numpy as np
import torch


def to_model_input(images: torch.Tensor) -> torch.Tensor:
    """uint8 NHWC -> float32 NCHW in [-1, 1] (the range every network takes)."""
    return images.permute(0, 3, 1, 2).float().div_(127.5).sub_(1.0)


@torch.no_grad()
def predict_logits(
    model: torch.nn.Module,
    images: np.ndarray | torch.Tensor,
    batch_size: int = 512,
    device: str | torch.device = "cpu",
) -> torch.Tensor:
    """Logits (CPU) of ``model`` in eval mode for uint8 NHWC ``images``."""
    images = torch.as_tensor(images)
    was_training = model.training
    model.eval()
    out = []
    for start in range(0, len(images), batch_size):
        batch = to_model_input(images[start : start + batch_size].to(device))
        out.append(model(batch).float().cpu())
    model.train(was_training)
    if not out:
        return torch.empty(0, 0)
    return torch.cat(out)


@torch.no_grad()
def features_and_logits(
    model: torch.nn.Module, images, device="cpu", batch_size: int = 512
) -> tuple[np.ndarray, np.ndarray]:
    """Penultimate features and logits of a classifier, batched (float32 arrays).

    ``images`` are uint8 NHWC (canonical arrays) or float NCHW in [-1, 1] (generated).
    """
    images = torch.as_tensor(images)
    was_training = model.training
    model.eval()
    features, logits = [], []
    for start in range(0, len(images), batch_size):
        batch = images[start : start + batch_size].to(device)
        if batch.dtype == torch.uint8:
            batch = to_model_input(batch)
        f = model.features(batch)
        features.append(f.float().cpu())
        logits.append(model.head(f).float().cpu())
    model.train(was_training)
    return torch.cat(features).numpy(), torch.cat(logits).numpy()


def features_and_predictions(
    model: torch.nn.Module, images, device="cpu", batch_size: int = 512
) -> tuple[np.ndarray, np.ndarray]:
    """Penultimate features and argmax labels of a classifier, batched."""
    features, logits = features_and_logits(model, images, device, batch_size)
    return features, logits.argmax(1)
