"""AutoAttack (Croce and Hein 2020) from a maintained library, through one adapter.

The library is the Adversarial Robustness Toolbox (ART; ``adversarial-robustness-toolbox``
on PyPI). Its AutoAttack runs its default ensemble, each attack on the samples the
earlier ones left robust: APGD with cross-entropy (5 restarts), APGD with the DLR loss,
DeepFool (a found example counts only within the budget) and Square (5000 queries).
This differs from the original "standard" version (APGD-CE, APGD-T, FAB-T, Square):
ART has no FAB. :data:`LIBRARY` names the library and its version for every result.

ART works on images in [0, 1]; the adapter presents the model as one that takes [0, 1]
images (x -> 2x - 1), halves the budgets and maps the examples back to [-1, 1].
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

import numpy as np
import torch
from torch import nn

from advtail.attacks.base import Attack

PACKAGE = "adversarial-robustness-toolbox"


def library() -> str:
    """The library AutoAttack comes from, with its version (for every result)."""
    try:
        return f"{PACKAGE} {version(PACKAGE)}"
    except PackageNotFoundError:
        return f"{PACKAGE} (not installed)"


class _UnitRange(nn.Module):
    """``model`` as a network of [0, 1] images."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model(2 * x - 1)


class AutoAttack(Attack):
    """ART's AutoAttack under L-inf or L2 with budget ``eps`` on the [-1, 1] scale."""

    name = "autoattack"

    def __init__(self, eps: float, norm: str = "linf", batch_size: int = 256):
        if norm not in ("linf", "l2"):
            raise ValueError(f"norm must be 'linf' or 'l2', got {norm!r}")
        self.eps, self.norm, self.batch_size = eps, norm, batch_size

    def perturb(self, model, x, y, generator):
        from art.attacks.evasion import AutoAttack as ArtAutoAttack
        from art.estimators.classification import PyTorchClassifier

        wrapped = _UnitRange(model)
        with torch.no_grad():
            num_classes = model(x[:1]).shape[1]
        estimator = PyTorchClassifier(
            model=wrapped,
            loss=nn.CrossEntropyLoss(),
            input_shape=tuple(x.shape[1:]),
            nb_classes=num_classes,
            clip_values=(0.0, 1.0),
            device_type="gpu" if x.is_cuda else "cpu",
        )
        eps01 = self.eps / 2
        attack = ArtAutoAttack(
            estimator,
            norm=np.inf if self.norm == "linf" else 2,
            eps=eps01,
            eps_step=eps01 / 4,
            batch_size=self.batch_size,
        )
        if generator is not None:  # ART draws from numpy's global generator
            np.random.seed(int(torch.randint(0, 2**31, (1,), generator=generator)))
        x01 = ((x + 1) / 2).cpu().numpy()
        adv01 = attack.generate(x01, y=y.cpu().numpy())
        return (torch.from_numpy(adv01).to(x.device, x.dtype) * 2 - 1).clamp(-1, 1)
