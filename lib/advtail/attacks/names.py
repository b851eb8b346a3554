"""The attack names and budgets a config writes, torch-free: the config layer checks
them when the workflow is read, which must import no torch (the attacks they name are
built in :mod:`advtail.attacks.threats`)."""

from __future__ import annotations

import re

from advtail.attacks.budgets import budget_value

ATTACK_NAMES = (
    "clean, fgsm, pgd<steps> (e.g. pgd20), cw<steps> (e.g. cw100), deepfool, autoattack "
    "(the standard version), autoattack_art (ART's ensemble)"
)
_NAME = re.compile(r"^(?:(clean|fgsm|deepfool|autoattack|autoattack_art)|(pgd|cw)(?P<steps>\d+))$")
# the inner-loss class weights of adversarial training (REAT's RBL, its ENR ablation),
# and the inner losses that take them
INNER_WEIGHTS = ("none", "rbl", "effective_number")
WEIGHTED_INNER_LOSSES = {"ce"}


def attack_steps(name: str) -> int | None:
    """The step count a PGD or CW attack name carries (None for the others). Raises
    ValueError for a name that is none of :data:`ATTACK_NAMES`, or fewer than 1 step."""
    match = _NAME.match(str(name))
    if match is None:
        raise ValueError(f"unknown attack {name!r}; expected one of {ATTACK_NAMES}")
    if match["steps"] is None:
        return None
    steps = int(match["steps"])
    if steps < 1:
        raise ValueError(f"attack {name!r} has {steps} steps; expected at least 1")
    return steps


def check_budget(eps) -> float:
    """eps on the [0, 1] scale as a number in (0, 1]; ValueError otherwise."""
    value = budget_value(eps)
    if not 0 < value <= 1:
        raise ValueError(f"expected a budget in (0, 1] on the [0, 1] pixel scale, got {eps!r}")
    return value
