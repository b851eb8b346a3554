"""AutoAttack (Croce and Hein 2020) from maintained libraries, through one adapter each.

``autoattack`` is the standard version, the one RobustBench and the REAT paper report:
Croce and Hein's own code (``pyautoattack`` on PyPI, its attack files those of the
authors' repository fra31/auto-attack): APGD-CE, APGD-T on the 9 most likely other
classes, FAB-T and Square (5000 queries), 100 iterations and one restart each, each
attack run on the images the earlier ones left robust. Its checks of a defence (a
randomised model, softmax outputs given as logits, Square beating the white-box
attacks) are logged by the library's logger and reach the job's log.

``autoattack_art`` is the Adversarial Robustness Toolbox's (ART;
``adversarial-robustness-toolbox``) ensemble, kept for the cross-check: APGD with
cross-entropy, APGD with the DLR loss (untargeted), DeepFool (an example counts only
within the budget) and Square, APGD 100 iterations with 1 restart and Square 5000
queries with 1 restart (ART's own default list runs 5 restarts of each). It is not the
standard version: ART has no FAB, and its APGD-DLR is untargeted.

Both libraries work on images in [0, 1]; each adapter presents the model as one that
takes [0, 1] images (x -> 2x - 1), halves the budgets and maps the examples back to
[-1, 1]. :meth:`settings` names the library, its version and the cost of what ran.
"""

from __future__ import annotations

import logging
from importlib.metadata import PackageNotFoundError, version

import numpy as np
import torch
from torch import nn

from advtail.attacks.base import Attack

ART_PACKAGE = "adversarial-robustness-toolbox"
STANDARD_PACKAGE = "pyautoattack"


def library(package: str = ART_PACKAGE) -> str:
    """A library an AutoAttack comes from, with its version (for every result)."""
    try:
        return f"{package} {version(package)}"
    except PackageNotFoundError:
        return f"{package} (not installed)"


def to_unit_range(x: torch.Tensor) -> torch.Tensor:
    """Images in [-1, 1] (the networks' scale) as images in [0, 1] (the libraries')."""
    return (x + 1) / 2


def from_unit_range(x01: torch.Tensor) -> torch.Tensor:
    """The inverse of :func:`to_unit_range`, clipped to [-1, 1]."""
    return (x01 * 2 - 1).clamp(-1, 1)


class _UnitRange(nn.Module):
    """``model`` as a network of [0, 1] images."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model(2 * x - 1)


class ArtAutoAttack(Attack):
    """ART's AutoAttack ensemble under L-inf or L2 with budget ``eps`` on the [-1, 1] scale.

    ``apgd_iterations``, ``apgd_restarts``, ``square_queries``: the ensemble's cost,
    the standard version's by default; a smaller Square budget is a weaker attack, and
    results say which settings ran.
    """

    name = "autoattack_art"

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
            "library": library(ART_PACKAGE),
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
        x01 = to_unit_range(x).cpu().numpy()
        adv01 = attack.generate(x01, y=y.cpu().numpy())
        return from_unit_range(torch.from_numpy(adv01).to(x.device, x.dtype))


class _Warnings(logging.Handler):
    """The warnings a logger gives while it is attached (the library's checks)."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record):
        self.messages.append(record.getMessage())


class AutoAttack(ArtAutoAttack):
    """The standard AutoAttack (Croce and Hein's code, ``pyautoattack``) under L-inf or L2
    with budget ``eps`` on the [-1, 1] scale: APGD-CE, APGD-T (9 target classes, fewer
    where the model has fewer), FAB-T and Square, in that order, each on the images
    still robust. ``apgd_iterations`` (APGD-CE, APGD-T and FAB-T's iterations, 100),
    ``square_queries`` (5000) and ``apgd_restarts`` (1) at their standard values make the
    standard version; other values are recorded in the settings of every result.
    """

    name = "autoattack"
    # the library's logger, whose warnings are its checks of the evaluated model
    LOGGER = "auto-attack"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.flags: set[str] = set()

    def settings(self) -> dict:
        standard = (self.apgd_iterations, self.apgd_restarts, self.square_queries) == (
            100,
            1,
            5000,
        )
        return {
            "library": library(STANDARD_PACKAGE),
            "version": "standard" if standard else "standard, reduced cost",
            "ensemble": "APGD-CE, APGD-T, FAB-T, Square",
            "apgd_iterations": self.apgd_iterations,
            "apgd_restarts": self.apgd_restarts,
            "square_queries": self.square_queries,
            # the checks of auto-attack that flag an evaluation not to be trusted
            # (randomised or dynamic model, softmax outputs, zero gradients, Square
            # beating the white-box attacks), from every batch attacked so far
            "flags": "; ".join(sorted(self.flags)),
        }

    def build(self, model, num_classes: int, device, seed: int):
        """The library's attack on ``model`` (a network of [0, 1] images), standard
        version, with this adapter's cost."""
        from pyautoattack import AutoAttack as StandardAutoAttack

        eps01 = self.eps / 2
        norm = "Linf" if self.norm == "linf" else "L2"
        attack = StandardAutoAttack(model, norm=norm, eps=eps01, device=device, seed=seed)
        attack.verbose = False
        targets = min(9, num_classes - 1)  # the standard version's 9 on 10 or more classes
        attack.apgd.n_iter = attack.apgd_targeted.n_iter = self.apgd_iterations
        attack.fab.n_iter = self.apgd_iterations
        attack.apgd.n_restarts = attack.apgd_targeted.n_restarts = self.apgd_restarts
        attack.apgd_targeted.n_target_classes = attack.fab.n_target_classes = targets
        attack.square.n_queries = self.square_queries
        return attack

    def perturb(self, model, x, y, generator):
        wrapped = _UnitRange(model)
        with torch.no_grad():
            num_classes = model(x[:1]).shape[1]
        seed = 0 if generator is None else int(torch.randint(0, 2**31, (1,), generator=generator))
        attack = self.build(wrapped, num_classes, x.device, seed)
        logger, warnings = logging.getLogger(self.LOGGER), _Warnings()
        logger.addHandler(warnings)
        try:
            # contiguous: the library views gradients as (N, -1), which fails on the
            # channels-last strides of RGB images read from NHWC arrays
            adv01, _ = attack.run_standard_evaluation(
                to_unit_range(x).contiguous(), y, batch_size=self.batch_size
            )
        finally:
            logger.removeHandler(warnings)
        self.flags |= {m.split(" See ")[0].rstrip(".!") for m in warnings.messages}
        return from_unit_range(adv01.to(x.device, x.dtype))
