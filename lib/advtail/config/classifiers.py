"""Cross-checks of the ``classifiers`` section: variant keys, adversarial training,
budgets, fine-tuned discriminators."""

from __future__ import annotations

from advtail.config.data import PART_NAMES
from advtail.config.schema import _check_variant, _require_defined
from advtail.config.selections import is_long_tailed
from advtail.errors import ConfigError


def _check_classifiers(classifiers: dict, subsets: dict, datasets: dict, variants: dict) -> None:
    for name, cfg in classifiers.items():
        key = f"classifiers.{name}"
        _require_defined(f"{key}.subset", cfg["subset"], subsets, "subsets")
        reweighting = cfg.get("reweighting", {"name": "none"})
        if cfg.get("finetune") and "arch" in cfg:
            raise ConfigError(
                f"{key}.arch",
                "a fine-tuned discriminator has the GAN's architecture; remove arch",
                cfg["arch"],
            )
        if not cfg.get("finetune") and "arch" not in cfg:
            raise ConfigError(f"{key}.arch", "missing, and required", has_value=False)
        for part, what in PART_NAMES.items():
            if part == "arch" and cfg.get("finetune"):
                continue
            part_cfg = reweighting if part == "reweighting" else cfg[part]
            _check_variant(part_cfg, f"{key}.{part}", variants[part], "name", what)
        epochs = cfg["epochs"]
        if reweighting.get("start_epoch", 0) >= epochs:
            raise ConfigError(
                f"{key}.reweighting.start_epoch",
                f"expected fewer than epochs ({epochs})",
                reweighting["start_epoch"],
            )
        schedule = cfg.get("schedule", {})
        milestones, factors = schedule.get("milestones", []), schedule.get("factors", [])
        if len(milestones) != len(factors):
            raise ConfigError(
                f"{key}.schedule.factors",
                f"expected one factor per milestone ({len(milestones)})",
                factors,
            )
        if milestones != sorted(milestones):
            raise ConfigError(
                f"{key}.schedule.milestones", "expected increasing epochs", milestones
            )
        if schedule.get("warmup_epochs", 0) >= epochs:
            raise ConfigError(
                f"{key}.schedule.warmup_epochs",
                f"expected fewer than epochs ({epochs})",
                schedule["warmup_epochs"],
            )
        arch = cfg.get("arch", {})
        if arch.get("name") == "wrn" and (arch.get("depth", 28) - 4) % 6:
            raise ConfigError(
                f"{key}.arch.depth", "expected 6n + 4 (e.g. 16, 22, 28)", arch.get("depth")
            )
        if cfg.get("adversarial"):
            _check_adversarial(cfg["adversarial"], f"{key}.adversarial", cfg, subsets, variants)
        dataset = subsets[cfg["subset"]]["dataset"]
        if cfg.get("select", "best_val") == "best_val" and not datasets[dataset].get(
            "val_per_class", 0
        ):
            raise ConfigError(
                f"{key}.select",
                f"'best_val' needs a validation split; set "
                f"datasets.{dataset}.val_per_class > 0, or select: last",
                "best_val",
            )


def _check_budget_key(key: str, value) -> None:
    """A budget (eps, step size) on the [0, 1] scale, in (0, 1]: else one line naming ``key``."""
    from advtail.attacks.names import check_budget

    try:
        check_budget(value)
    except ValueError as err:
        raise ConfigError(key, str(err).split(", got")[0], value) from None


def _check_adversarial(cfg: dict, key: str, classifier: dict, subsets: dict, variants) -> None:
    from advtail.attacks.names import WEIGHTED_INNER_LOSSES

    _check_variant(cfg, key, variants["adversarial"], "attack", "training attack")
    for part in ("eps", "step_size"):
        if part in cfg:
            _check_budget_key(f"{key}.{part}", cfg[part])
    _check_step_within_budget(cfg, key)
    inner = cfg.get("inner_loss", {})
    weights = inner.get("weights", "none")
    if weights != "none" and inner.get("name", "ce") not in WEIGHTED_INNER_LOSSES:
        raise ConfigError(
            f"{key}.inner_loss.name",
            f"cannot take the class weights that weights: {weights} needs; expected one of "
            f"{sorted(WEIGHTED_INNER_LOSSES)}",
            inner["name"],
        )
    uses = [f"inner_loss.weights: {weights}"] if weights != "none" else []
    uses += ["tail"] if cfg.get("tail") else []
    if uses and not is_long_tailed(classifier["subset"], subsets):
        raise ConfigError(
            f"{key}.{'tail' if cfg.get('tail') and weights == 'none' else 'inner_loss.weights'}",
            f"{' and '.join(uses)} re-balance a long tail; subset '{classifier['subset']}' "
            f"is not long-tailed (profile exponential or step)",
            has_value=False,
        )


def _check_step_within_budget(cfg: dict, key: str) -> None:
    """An attack's ascent step is at most its budget (a larger step only lands on the
    projection's boundary: almost surely a typo, e.g. 32/255 at 16/255)."""
    from advtail.attacks.budgets import budget_value

    if "step_size" in cfg and "eps" in cfg:
        step, eps = budget_value(cfg["step_size"]), budget_value(cfg["eps"])
        if step > eps * (1 + 1e-9):
            raise ConfigError(
                f"{key}.step_size", f"expected at most eps ({cfg['eps']})", cfg["step_size"]
            )


def _classifier_of(key: str, name: str, classifiers: dict, subsets: dict, dataset: str) -> None:
    _require_defined(key, name, classifiers, "classifiers")
    own = subsets[classifiers[name]["subset"]]["dataset"]
    if own != dataset:
        raise ConfigError(
            key, f"expected a classifier of dataset '{dataset}'; '{name}' is of '{own}'", name
        )


def _check_finetuned(classifiers: dict, gans: dict, subsets: dict) -> None:
    """A fine-tuned discriminator names a GAN with an ac head of its dataset, and trains
    adversarially (Eq. 10 is PGD on both terms)."""
    for name, cfg in classifiers.items():
        if not cfg.get("finetune"):
            continue
        key = f"classifiers.{name}"
        gan = cfg["finetune"]["gan"]
        _require_defined(f"{key}.finetune.gan", gan, gans, "gans")
        if gans[gan].get("head", "none") != "ac":
            raise ConfigError(
                f"{key}.finetune.gan",
                f"expected a GAN with head ac (a class head to fine-tune); '{gan}' has head "
                f"{gans[gan].get('head', 'none')}",
                gan,
            )
        own, other = subsets[cfg["subset"]]["dataset"], subsets[gans[gan]["subset"]]["dataset"]
        if own != other:
            raise ConfigError(
                f"{key}.finetune.gan",
                f"expected a GAN of dataset '{own}'; '{gan}' is of '{other}'",
                gan,
            )
        if not cfg.get("adversarial"):
            raise ConfigError(
                f"{key}.adversarial",
                "fine-tuning (Rob-GAN Eq. 10) attacks real and generated images; add an "
                "adversarial block",
                has_value=False,
            )
