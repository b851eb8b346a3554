"""Rules of the robustness figures: each results/figures/<name>.png from the robustness
table (and, for the examples, the examples each evaluation kept)."""

from __future__ import annotations

import zipfile

import numpy as np

from advtail.errors import DataFileError
from advtail.plots.robustness import (
    plot_accuracy_against_eps,
    plot_adversarial_examples,
    plot_adversarial_predictions,
    plot_group_accuracy,
)
from advtail.stages.tables import read_table

ROBUSTNESS_FIGURES = (
    "robust_accuracy_groups",
    "adversarial_predictions",
    "accuracy_against_eps",
    "adversarial_examples",
)


def read_examples(path, attack: str) -> dict:
    """The arrays of an ``{threat}_examples.npz`` holding the examples of ``attack``."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except (OSError, ValueError, zipfile.BadZipFile) as err:
        raise DataFileError(path, f"not a readable examples file ({err})") from None
    missing = [k for k in ("labels", "clean", f"adv_{attack}", f"pred_{attack}") if k not in arrays]
    if missing:
        raise DataFileError(
            path, f"lacks {', '.join(missing)}; delete it and Snakemake rebuilds it"
        )
    return arrays


def robustness_figure(
    name: str, inputs: dict, out_png, threat: str, attack: str, labels: dict | None = None
) -> None:
    """Draw robustness figure ``name`` from its inputs: ``table`` (robustness.csv), and
    for ``adversarial_examples`` the ``examples`` files, named by ``labels["examples"]``.
    ``threat``, ``attack``: the threat model and the attack the figure shows."""
    if name not in ROBUSTNESS_FIGURES:
        raise ValueError(f"unknown figure {name!r}; expected one of {ROBUSTNESS_FIGURES}")
    table = read_table(inputs["table"])
    if name == "robust_accuracy_groups":
        plot_group_accuracy(table, threat, out_png)
    elif name == "adversarial_predictions":
        plot_adversarial_predictions(table, threat, attack, out_png)
    elif name == "accuracy_against_eps":
        plot_accuracy_against_eps(table, attack, out_png)
    else:
        examples = {
            model: read_examples(path, attack)
            for model, path in zip(labels["examples"], inputs["examples"], strict=True)
        }
        rows = table[table["threat"] == threat]
        class_names = [c.removeprefix("acc_") for c in rows.columns if c.startswith("acc_")]
        title = f"{attack}, {rows['norm'].iloc[0]} eps {rows['eps_label'].iloc[0]} ({threat})"
        plot_adversarial_examples(examples, attack, class_names, out_png, title)
