"""Model cards in RobustBench's model-info format, one per evaluated classifier and threat.

RobustBench (Croce et al. 2021) describes each leaderboard entry by a JSON file of
model-info fields (:data:`ROBUSTBENCH_FIELDS`): accuracies in percent as strings with
two decimals, the threat model as ``Linf`` or ``L2``, eps as a fraction of 255. A card
here holds those fields, from a classifier's robustness file and its training recipe
(its config entry), and our extensions under ``advtail``: every attack's robust
accuracy, the per-group and per-class robust accuracy under AutoAttack (or the worst
case where AutoAttack did not run), the attack settings, AutoAttack's flags, the seed
and the recipe. Digits cards are not RobustBench entries (RobustBench's data sets are
CIFAR-10/100 and ImageNet); the full-scale configs' cards are in the form a submission
asks for.
"""

from __future__ import annotations

from advtail.metrics.tables import ROBUSTNESS_SETTINGS

ROBUSTBENCH_FIELDS = (
    "name",
    "architecture",
    "dataset",
    "threat_model",
    "eps",
    "clean_acc",
    "autoattack_acc",
    "number_forward_passes",
    "additional_data",
    "venue",
    "link",
    "reported",
)
THREAT_MODELS = {"linf": "Linf", "l2": "L2"}


def percent(accuracy: float | None) -> str | None:
    """RobustBench's form of an accuracy: percent, two decimals, a string."""
    return None if accuracy is None else f"{100 * accuracy:.2f}"


def model_card(metrics: dict, recipe: dict) -> dict:
    """The card of one classifier under one threat: ``metrics`` is its robustness file
    (``evaluate_robustness``), ``recipe`` its classifier config entry (``paper``, when
    the config names one, gives ``venue``, ``link`` and ``reported``)."""
    attacks = metrics["attacks"]
    auto = attacks.get("autoattack")
    headline = auto or attacks.get("worst_case") or attacks[list(attacks)[-1]]
    paper = recipe.get("paper") or {}
    arch = recipe.get("arch") or {}
    card = {
        "name": metrics["classifier"],
        "architecture": arch.get("name", "gan_discriminator" if "finetune" in recipe else ""),
        "dataset": metrics["dataset"],
        "threat_model": THREAT_MODELS[metrics["norm"]],
        "eps": metrics["eps_label"],
        "clean_acc": percent(attacks["clean"]["accuracy"]) if "clean" in attacks else None,
        "autoattack_acc": percent(auto["accuracy"]) if auto else None,
        "number_forward_passes": 1,
        "additional_data": False,
        "venue": paper.get("venue"),
        "link": paper.get("link"),
        "reported": paper.get("reported"),
    }
    card["advtail"] = {
        "subset": metrics.get("subset"),
        "threat": metrics["threat"],
        "num_test": metrics.get("num_test"),
        "robust_accuracy": {name: a["accuracy"] for name, a in attacks.items()},
        "headline_attack": "autoattack"
        if auto
        else ("worst_case" if "worst_case" in attacks else list(attacks)[-1]),
        "num_attacked": headline.get("num_attacked"),
        "note": headline.get("note", ""),
        "group_accuracy": headline["group_accuracy"],
        "per_class_accuracy": dict(
            zip(metrics["class_names"], headline["per_class_accuracy"], strict=True)
        ),
        "attack_settings": {
            name: {k: v for k, v in a.items() if k in SETTING_KEYS} for name, a in attacks.items()
        },
        "flags": (auto or {}).get("flags", ""),
        "seed": recipe.get("seed"),
        "recipe": recipe,
    }
    return card


SETTING_KEYS = ("library", *ROBUSTNESS_SETTINGS)  # what ran, as the robustness table


def card_row(card: dict) -> dict:
    """A card as one row of the table of all cards: the RobustBench fields, then what
    the headline accuracy was measured on and AutoAttack's flags."""
    row = {field: card[field] for field in ROBUSTBENCH_FIELDS}
    ours = card["advtail"]
    row |= {
        "subset": ours["subset"],
        "threat": ours["threat"],
        "headline_attack": ours["headline_attack"],
        "num_attacked": ours["num_attacked"],
        "tail_accuracy": ours["group_accuracy"].get("tail"),
        "flags": ours["flags"],
        "seed": ours["seed"],
    }
    return row
