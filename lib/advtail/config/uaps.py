"""Cross-checks of the ``uaps`` section: victims, prior, budget, crafting."""

from __future__ import annotations

from advtail.config.classifiers import _check_budget_key, _classifier_of
from advtail.config.schema import _require_defined
from advtail.errors import ConfigError

# victim architectures with residual branches (the skip-gradient option scales them)
RESIDUAL_ARCHITECTURES = ("resnet18", "resnet32", "wrn")


def _check_uaps(uaps: dict, classifiers: dict, subsets: dict, datasets: dict) -> None:
    """The UAP stage's references and budget: victims of one dataset, an in-loop victim,
    a prior of another dataset with the victims' image form, an unconditional prior GAN
    that keeps snapshots."""
    if not uaps:
        return
    key = "uaps"
    victims = uaps.get("victims") or []
    if not victims:
        raise ConfigError(
            f"{key}.victims", "expected at least one victim classifier", has_value=False
        )
    for i, name in enumerate(victims):
        _require_defined(f"{key}.victims.{i}", name, classifiers, "classifiers")
    dataset = subsets[classifiers[victims[0]]["subset"]]["dataset"]
    for i, name in enumerate(victims):
        _classifier_of(f"{key}.victims.{i}", name, classifiers, subsets, dataset)
    if uaps.get("in_loop"):
        _classifier_of(f"{key}.in_loop", uaps["in_loop"], classifiers, subsets, dataset)
    _check_budget_key(f"{key}.eps", uaps.get("eps", "10/255"))
    for i, eps in enumerate((uaps.get("sweep") or {}).get("eps") or []):
        _check_budget_key(f"{key}.sweep.eps.{i}", eps)
    skip = (uaps.get("gap") or {}).get("skip_gradient")
    if skip is not None:
        for name in victims:
            arch = (classifiers[name].get("arch") or {}).get("name")
            if arch not in RESIDUAL_ARCHITECTURES:
                raise ConfigError(
                    f"{key}.gap.skip_gradient",
                    f"scales residual branches; victim '{name}' ({arch}) has none "
                    f"(expected {', '.join(RESIDUAL_ARCHITECTURES)}, or null)",
                    skip,
                )
    gan = uaps.get("prior_gan")
    if gan is None:
        raise ConfigError(f"{key}.prior_gan", "expected the prior GAN's settings", has_value=False)
    gkey = f"{key}.prior_gan"
    _require_defined(f"{gkey}.subset", gan["subset"], subsets, "subsets")
    prior = subsets[gan["subset"]]["dataset"]
    if prior == dataset:
        raise ConfigError(
            f"{gkey}.subset",
            f"the prior must be images the victims never saw; subset '{gan['subset']}' is of "
            f"their dataset '{dataset}'",
            gan["subset"],
        )
    for what, default in (("image_size", 32), ("channels", 3)):
        ours, theirs = datasets[prior].get(what, default), datasets[dataset].get(what, default)
        if ours != theirs:
            raise ConfigError(
                f"datasets.{prior}.{what}",
                f"the UAP prior's {what} must be the victims' ({theirs}, dataset '{dataset}')",
                ours,
            )
    for extra in ("regularizer", "labeller", "annotator", "cas", "validate_every", "robust"):
        if gan.get(extra) is not None:
            raise ConfigError(
                f"{gkey}.{extra}",
                "not used by a prior GAN (the stage adds its regularizers; it is not validated)",
                has_value=False,
            )
    if gan.get("head", "none") != "none":
        raise ConfigError(
            f"{gkey}.head", "a prior GAN is unconditional; expected none", gan["head"]
        )
    cycle, kept = gan.get("cycle_steps") or gan["steps"], gan.get("snapshots", 0)
    if kept < 1 or kept * cycle > gan["steps"]:
        raise ConfigError(
            f"{gkey}.snapshots",
            f"expected 1 to {gan['steps'] // cycle} cycles "
            f"(of {cycle} steps in {gan['steps']} steps)",
            kept,
        )
