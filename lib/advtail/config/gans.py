"""Cross-checks of the ``gans`` section: classifier references, heads, robust training."""

from __future__ import annotations

from advtail.config.classifiers import _check_budget_key, _check_step_within_budget, _classifier_of
from advtail.config.schema import _check_variant, _require_defined
from advtail.config.selections import NO_CAS, gan_annotator, gan_labeller
from advtail.errors import ConfigError


def _check_robust_gan(cfg: dict, key: str, variants: dict) -> None:
    """A robust GAN's discriminator round: an ac head, a budget, an objective the attack
    can ascend on the reals alone."""
    from advtail.losses.names import SEPARABLE_OBJECTIVES

    robust = cfg["robust"]
    if cfg.get("head", "none") != "ac":
        raise ConfigError(
            f"{key}.head",
            "a robust GAN (robust:) trains its discriminator's class head on attacked reals; "
            "expected head: ac",
            cfg.get("head", "none"),
        )
    _check_variant(robust, f"{key}.robust", variants["robust"], "attack", "robust GAN attack")
    for part in ("eps", "step_size"):
        if part in robust:
            _check_budget_key(f"{key}.robust.{part}", robust[part])
    _check_step_within_budget(robust, f"{key}.robust")
    if robust["attack"] == "pgd" and cfg["loss"]["name"] not in SEPARABLE_OBJECTIVES:
        raise ConfigError(
            f"{key}.loss.name",
            "Rob-GAN's attack ascends the discriminator's loss on each real image alone; "
            f"expected one of {list(SEPARABLE_OBJECTIVES)}",
            cfg["loss"]["name"],
        )


def _check_gans(gans: dict, classifiers: dict, subsets: dict, variants: dict) -> None:
    for name, cfg in gans.items():
        key = f"gans.{name}"
        _require_defined(f"{key}.subset", cfg["subset"], subsets, "subsets")
        dataset = subsets[cfg["subset"]]["dataset"]
        if cfg.get("robust"):
            _check_robust_gan(cfg, key, variants)
        if cfg.get("class_loss") and cfg.get("head", "none") != "ac":
            raise ConfigError(
                f"{key}.class_loss",
                "class terms need a class head; expected head: ac",
                has_value=False,
            )
        if cfg.get("class_loss"):
            class_loss = {"name": "ac", **cfg["class_loss"]}
            _check_variant(
                class_loss, f"{key}.class_loss", variants["class_loss"], "name", "class loss"
            )
        if cfg.get("regularizer"):
            _classifier_of(
                f"{key}.regularizer.classifier",
                cfg["regularizer"]["classifier"],
                classifiers,
                subsets,
                dataset,
            )
        for role in ("labeller", "annotator", "cas"):
            if cfg.get(role) and not (role == "cas" and cfg[role] == NO_CAS):
                _classifier_of(f"{key}.{role}", cfg[role], classifiers, subsets, dataset)
        conditional = cfg.get("head", "none") != "none"
        if not conditional and gan_labeller(cfg, classifiers) is None:
            raise ConfigError(
                f"{key}.labeller",
                "an unconditional GAN needs a classifier to "
                "label its samples; name one, or add a classifier with role "
                f"in_loop on subset '{cfg['subset']}'",
                has_value=False,
            )
        if gan_annotator(cfg, classifiers, subsets) is None:
            raise ConfigError(
                f"{key}.annotator",
                "evaluation (and validation) needs an annotator; name one, or add a classifier "
                "with role annotator",
                has_value=False,
            )
        if cfg["loss"]["name"] != "wgan_gp" and "penalty_weight" in cfg["loss"]:
            raise ConfigError(
                f"{key}.loss.penalty_weight",
                "used by loss 'wgan_gp' only",
                cfg["loss"]["penalty_weight"],
            )
        if cfg["loss"]["name"] == "relativistic" and "real_weight" in cfg["loss"]:
            raise ConfigError(
                f"{key}.loss.real_weight",
                "the relativistic loss has no separate real term; used by hinge, "
                "non_saturating and wgan_gp",
                cfg["loss"]["real_weight"],
            )
        if not conditional and ("fake_labels" in cfg or "label_embedding" in cfg["arch"]):
            what = "fake_labels" if "fake_labels" in cfg else "arch.label_embedding"
            raise ConfigError(
                f"{key}.{what}",
                "used by conditional GANs only (head ac or projection)",
                has_value=False,
            )
