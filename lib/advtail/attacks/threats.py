"""Threat models: the attack names a config writes, and the attacks they build.

A threat model is a norm, a budget eps on the [0, 1] pixel scale and a list of attack
names: ``clean`` (no attack), ``fgsm``, ``pgd<steps>`` (PGD on cross-entropy, e.g.
``pgd20``), ``cw<steps>`` (PGD on the Carlini-Wagner margin, CW-inf; e.g. ``cw100``),
``deepfool`` (counted only within the budget), ``autoattack`` (the standard version,
Croce and Hein's code) and ``autoattack_art`` (ART's ensemble, the cross-check). PGD's step is
``step_fraction`` x eps: eps / 4, the 2/255 at 8/255 of the REAT evaluation (PGD-20,
PGD-100, and CW-100 with eps / 4; reference notes "PGD").
"""

from __future__ import annotations

from advtail import __version__
from advtail.attacks.autoattack import ArtAutoAttack, AutoAttack
from advtail.attacks.base import Attack
from advtail.attacks.budgets import SCALE, to_model_scale
from advtail.attacks.deepfool import DeepFool
from advtail.attacks.gradient import FGSM, NORMS, PGD
from advtail.attacks.losses import cross_entropy, cw_margin
from advtail.attacks.names import attack_steps, check_budget

# the attacks of the package itself, named with its version in every result
OWN_LIBRARY = f"advtail {__version__}"


AUTOATTACKS = {cls.name: cls for cls in (AutoAttack, ArtAutoAttack)}


def build_attack(
    name: str,
    norm: str,
    eps01,
    step_fraction: float = 0.25,
    restarts: int = 1,
    autoattack: dict | None = None,
) -> Attack | None:
    """The attack ``name`` under the threat (``norm``, ``eps01`` on the [0, 1] scale);
    None for ``clean``. ``autoattack``: keyword settings of both AutoAttacks."""
    if norm not in NORMS:
        raise ValueError(f"unknown norm {norm!r}; expected one of {NORMS}")
    steps = attack_steps(name)
    eps = to_model_scale(check_budget(eps01))
    if name == "clean":
        return None
    if name == "fgsm":
        return FGSM(eps, norm=norm)
    if name == "deepfool":
        return DeepFool(norm, eps=eps)
    if name in AUTOATTACKS:
        return AUTOATTACKS[name](eps, norm, **(autoattack or {}))
    loss = cw_margin if name.startswith("cw") else cross_entropy
    return PGD(eps, steps, step_fraction * eps, norm, restarts=restarts, loss=loss)


def attack_settings(name: str, attack: Attack | None) -> dict:
    """What ran, for the results: the library and version, and the attack's settings
    (budgets and steps on the [0, 1] scale)."""
    if attack is None:
        return {"library": OWN_LIBRARY}
    if isinstance(attack, ArtAutoAttack):  # either AutoAttack
        return attack.settings()
    settings = {"library": OWN_LIBRARY}
    if isinstance(attack, PGD):
        settings |= {
            "steps": attack.steps,
            "step_size": attack.step_size / SCALE,
            "random_start": attack.random_start,
            "restarts": attack.restarts,
            "loss": "cw_margin" if attack.loss is cw_margin else "cross_entropy",
        }
    if isinstance(attack, DeepFool):
        settings |= {"overshoot": attack.overshoot, "max_iter": attack.max_iter}
    return settings
