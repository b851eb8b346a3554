"""Cross-checks of the ``robustness`` section: threats, attacks, budgets, classifiers."""

from __future__ import annotations

from advtail.config.classifiers import _check_budget_key
from advtail.config.schema import _require_defined
from advtail.config.selections import figure_threat
from advtail.errors import ConfigError

# sources of one unlabelled class (priors for universal perturbations): nothing to attack
ONE_CLASS_SOURCES = ("patches",)


def _check_robustness(robustness: dict, classifiers: dict, subsets: dict, datasets: dict) -> None:
    from advtail.attacks.names import attack_steps

    threats = robustness.get("threats") or {}
    for name, threat in threats.items():
        key = f"robustness.threats.{name}"
        _check_budget_key(f"{key}.eps", threat["eps"])
        for i, attack in enumerate(threat["attacks"]):
            try:
                attack_steps(attack)
            except ValueError as err:
                raise ConfigError(f"{key}.attacks.{i}", str(err), has_value=False) from None
        for attack in threat.get("images") or {}:
            if attack not in threat["attacks"]:
                raise ConfigError(
                    f"{key}.images.{attack}",
                    f"expected an attack of this threat ({', '.join(threat['attacks'])})",
                    has_value=False,
                )
        for i, classifier in enumerate(threat["classifiers"]):
            _require_defined(f"{key}.classifiers.{i}", classifier, classifiers, "classifiers")
            dataset = subsets[classifiers[classifier]["subset"]]["dataset"]
            if datasets[dataset]["source"] in ONE_CLASS_SOURCES:
                raise ConfigError(
                    f"{key}.classifiers.{i}",
                    f"expected a classifier of a labelled data set; '{classifier}' learnt "
                    f"'{dataset}', a one-class prior (source {datasets[dataset]['source']})",
                    classifier,
                )
    figures = robustness.get("figures") or {}
    if figures.get("threat") is not None:
        _require_defined("robustness.figures.threat", figures["threat"], threats, "threats")
    shown = figure_threat(robustness)
    if figures.get("attack") is not None and shown is not None:
        if figures["attack"] not in threats[shown]["attacks"]:
            raise ConfigError(
                "robustness.figures.attack",
                f"expected an attack of the figure threat '{shown}' ({threats[shown]['attacks']})",
                figures["attack"],
            )
