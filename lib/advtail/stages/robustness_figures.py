"""Rules of the robustness figures: each results/figures/<name>.png from the robustness
table (and, for the examples, the examples each evaluation kept)."""

from __future__ import annotations

import zipfile

import numpy as np

from advtail.errors import DataFileError
from advtail.metrics.tables import ADVERSARIAL_PREDICTED
from advtail.plots.robustness import (
    plot_accuracy_against_eps,
    plot_adversarial_examples,
    plot_adversarial_prediction_history,
    plot_adversarial_predictions,
    plot_group_accuracy,
)
from advtail.stages.tables import read_metrics, read_table
from advtail.workflow.catalog import ROBUSTNESS_FIGURES


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
    for ``adversarial_examples`` the ``examples`` files, named by ``labels["examples"]``;
    ``labels["methods"]``, when given, keeps the table's rows of those methods.
    ``threat``, ``attack``: the threat model and the attack the figure shows."""
    if name not in ROBUSTNESS_FIGURES:
        raise ValueError(f"unknown figure {name!r}; expected one of {ROBUSTNESS_FIGURES}")
    table = read_table(inputs["table"])
    if (labels or {}).get("methods"):  # a figure of some methods only (Rob-GAN's Table 1)
        table = table[table["method"].isin(labels["methods"])]
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


def adversarial_training_figure(log_paths, meta_paths, out_png, methods: list[str]) -> dict:
    """REAT Fig. 1 from the adversarially trained classifiers' ``log.csv`` and
    ``meta.json`` files: per method (``methods``, one per file; its seeds averaged), the
    share of training adversarial examples predicted as each class, epoch by epoch."""
    histories = {}
    for log_path, meta_path, method in zip(log_paths, meta_paths, methods, strict=True):
        log = read_table(log_path)
        columns = [c for c in log.columns if c.startswith(ADVERSARIAL_PREDICTED)]
        if not columns:
            raise DataFileError(
                log_path, f"has no {ADVERSARIAL_PREDICTED}<k> columns: not adversarial training"
            )
        counts = log[columns].to_numpy(dtype=float)
        meta = read_metrics(meta_path, ("class_counts", "class_names"))
        entry = histories.setdefault(method, {"shares": []})
        entry["shares"].append(counts / np.maximum(counts.sum(1, keepdims=True), 1.0))
        entry["labels"] = [
            f"{name} ({n})"
            for name, n in zip(meta["class_names"], meta["class_counts"], strict=True)
        ]
    return plot_adversarial_prediction_history(histories, out_png)
