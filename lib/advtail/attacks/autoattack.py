"""AutoAttack (Croce and Hein 2020) from a maintained library, through one adapter.

The library is the Adversarial Robustness Toolbox (ART; ``adversarial-robustness-toolbox``
on PyPI). Its AutoAttack runs an ensemble, each attack on the samples the earlier ones
left robust; the adapter builds the ensemble so that its cost is a setting:
APGD with cross-entropy, APGD with the DLR loss (untargeted), DeepFool (an example counts
only within the budget) and Square. As in the original "standard" version, APGD runs 100
iterations with 1 restart and Square 5000 queries with 1 restart (ART's own default
list runs 5 restarts of each: its Square alone, at about 207 s a restart, was on
course for 17 minutes on 100 digits on one CPU core). It differs
from the standard version in two ways: ART has no FAB, and APGD-DLR is untargeted
(ART runs targeted attacks against every class only with ``targeted=True``, at K - 1
times the cost). :func:`library` names the library and its version for every result.

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
    """ART's AutoAttack under L-inf or L2 with budget ``eps`` on the [-1, 1] scale.

    ``apgd_iterations``, ``apgd_restarts``, ``square_queries``: the ensemble's cost,
    the standard version's by default; a smaller Square budget is a weaker attack, and
    results say which settings ran.
    """

    name = "autoattack"

    def __init__(
        self,
        eps: float,
        norm: str = "linf",
        batch_size: int = 256,
        apgd_iterations: int = 100,
        apgd_restarts: int = 1,
        square_queries: int = 5000,
    ):
        if norm not in ("linf", "l2"):
            raise ValueError(f"norm must be 'linf' or 'l2', got {norm!r}")
        if min(apgd_iterations, apgd_restarts, square_queries) < 1:
            raise ValueError("APGD iterations and restarts and Square queries must be >= 1")
        self.eps, self.norm, self.batch_size = eps, norm, batch_size
        self.apgd_iterations, self.apgd_restarts = apgd_iterations, apgd_restarts
        self.square_queries = square_queries

    def settings(self) -> dict:
        """What ran, for every result: the library and the ensemble's cost."""
        return {
            "library": library(),
            "ensemble": "APGD-CE, APGD-DLR, DeepFool, Square",
            "apgd_iterations": self.apgd_iterations,
            "apgd_restarts": self.apgd_restarts,
            "square_queries": self.square_queries,
        }

    def ensemble(self, estimator, norm, eps01: float) -> list:
        from art.attacks.evasion import AutoProjectedGradientDescent, DeepFool, SquareAttack

        apgd = {
            "norm": norm,
            "eps": eps01,
            "eps_step": eps01 / 4,
            "max_iter": self.apgd_iterations,
            "nb_random_init": self.apgd_restarts,
            "batch_size": self.batch_size,
            "targeted": False,
            "verbose": False,
        }
        return [
            AutoProjectedGradientDescent(estimator, loss_type="cross_entropy", **apgd),
            AutoProjectedGradientDescent(estimator, loss_type="difference_logits_ratio", **apgd),
            DeepFool(
                estimator, max_iter=100, epsilon=1e-3, batch_size=self.batch_size, verbose=False
            ),
            SquareAttack(
                estimator,
                norm=norm,
                max_iter=self.square_queries,
                eps=eps01,
                p_init=0.8,
                nb_restarts=1,
                batch_size=self.batch_size,
                verbose=False,
            ),
        ]

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
        norm = np.inf if self.norm == "linf" else 2
        attack = ArtAutoAttack(
            estimator,
            norm=norm,
            eps=eps01,
            eps_step=eps01 / 4,
            attacks=self.ensemble(estimator, norm, eps01),
            batch_size=self.batch_size,
        )
        if generator is not None:  # ART draws from numpy's global generator
            np.random.seed(int(torch.randint(0, 2**31, (1,), generator=generator)))
        x01 = ((x + 1) / 2).cpu().numpy()
        adv01 = attack.generate(x01, y=y.cpu().numpy())
        return (torch.from_numpy(adv01).to(x.device, x.dtype) * 2 - 1).clamp(-1, 1)
