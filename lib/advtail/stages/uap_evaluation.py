"""Rules uap_table and figure_uap_*: every universal perturbation on every victim's
test split (the transfer matrix), fooling rate per class and group, and the figures."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from advtail.attacks.budgets import budget_value
from advtail.data.arrays import load_image_set
from advtail.errors import DataFileError
from advtail.metrics.uaps import fooling_metrics
from advtail.nets.classifiers import load_classifier
from advtail.nets.inference import predict_logits
from advtail.plots.uaps import (
    plot_uap_budget_sweep,
    plot_uap_fooling_rate,
    plot_uap_perturbations,
    plot_uap_transfer,
)
from advtail.stages.craft_uap import load_perturbation
from advtail.stages.tables import read_table
from advtail.training.runtime import resolve_device, set_threads
from advtail.workflow.catalog import UAP_FIGURES, UAP_METHODS


@torch.no_grad()
def perturbed_predictions(
    victim, images: np.ndarray, delta01: np.ndarray, device
) -> tuple[np.ndarray, np.ndarray]:
    """The victim's predictions on uint8 NHWC ``images``, clean and with ``delta01`` added
    (on the [0, 1] scale, clipped to the image range)."""
    clean = predict_logits(victim, images, device=device).argmax(1).numpy()
    # not rounded to grey levels: the victims take floats, and rounding would erase a
    # perturbation smaller than half a level
    x01 = np.clip(images.astype(np.float32) / 255.0 + delta01[None], 0.0, 1.0)
    x = torch.as_tensor(x01 * 2.0 - 1.0).permute(0, 3, 1, 2)
    logits = torch.cat([victim(x[i : i + 512].to(device)).cpu() for i in range(0, len(x), 512)])
    return clean, logits.argmax(1).numpy()


def uap_tables(
    perturbation_files,
    meta_files,
    seeds,
    victims,
    methods,
    victim_models,
    test_path,
    out_table,
    out_per_class,
    out_summary,
    device="auto",
    threads=None,
    eps=None,
) -> pd.DataFrame:
    """Every perturbation on every victim's test split.

    ``eps``: the configured budget (``uaps.eps``): every perturbation's own L-inf norm
    is checked against it and its meta must name it, whatever else the meta claims (a
    perturbation crafted at another budget would mix into the summary, which does not
    group by budget). None: each meta's own budget (standalone use).

    ``perturbation_files`` and ``meta_files`` run over ``seeds``, then the ``victims``
    each was crafted against, then ``methods``; ``victim_models`` are the victims' model
    files. Writes one row per perturbation and victim (``transfer`` when crafted against
    another), the per-class rows, and the summary over seeds (mean, std, count).
    """
    keys = [(seed, victim, method) for seed in seeds for victim in victims for method in methods]
    if not len(keys) == len(perturbation_files) == len(meta_files):
        raise ValueError(f"{len(keys)} perturbations expected, {len(perturbation_files)} given")
    perturbations = [
        {"seed": seed, "crafted_on": victim, "method": method, "path": path, "meta": meta}
        for (seed, victim, method), path, meta in zip(
            keys, perturbation_files, meta_files, strict=True
        )
    ]
    for entry in perturbations:  # every sidecar checked before any model is loaded
        entry["meta"], entry["budget"] = _checked_meta(entry["meta"], eps)
    set_threads(threads)
    torch_device = resolve_device(device)
    rows, per_class = perturbation_rows(
        perturbations, dict(zip(victims, victim_models, strict=True)), test_path, torch_device
    )
    table = pd.DataFrame(rows)
    order = {m: i for i, m in enumerate(UAP_METHODS)}
    table = table.sort_values(
        ["method", "crafted_on", "evaluated_on", "seed"],
        key=lambda c: c.map(order) if c.name == "method" else c,
    )
    for path, frame in ((out_table, table), (out_per_class, pd.DataFrame(per_class))):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        frame.to_csv(path, index=False)
    summary = uap_summary(table)
    summary.to_csv(out_summary, index=False)
    return table


def perturbation_rows(perturbations: list[dict], victims: dict, test_path, torch_device):
    """(rows, per-class rows) of each perturbation (``seed``, ``method``, ``crafted_on``,
    ``path``, checked ``meta`` and ``budget``) on each victim (name -> model file) on the
    test split at ``test_path``."""
    test = load_image_set(test_path)
    rows, per_class = [], []
    loaded = {name: load_classifier(path, torch_device) for name, path in victims.items()}
    for entry in perturbations:
        meta = entry["meta"]
        for name, (victim, payload) in loaded.items():
            delta = load_perturbation(
                entry["path"],
                int(payload["image_size"]),
                int(payload["arch"]["channels"]),
                entry["budget"],
            )
            clean, perturbed = perturbed_predictions(victim, test.images, delta, torch_device)
            metrics = fooling_metrics(test.labels, clean, perturbed, payload["class_counts"])
            rows.append(
                {
                    "seed": entry["seed"],
                    "method": entry["method"],
                    "crafted_on": entry["crafted_on"],
                    "evaluated_on": name,
                    "transfer": name != entry["crafted_on"],
                    "eps": meta["eps"],
                    "fooling_rate": metrics["fooling_rate"],
                    "clean_accuracy": metrics["clean_accuracy"],
                    "accuracy": metrics["accuracy"],
                    "balanced_accuracy": metrics["balanced_accuracy"],
                    **{f"fooling_rate_{g}": v for g, v in metrics["group_fooling_rate"].items()},
                    **{f"accuracy_{g}": v for g, v in metrics["group_accuracy"].items()},
                    # the classifier in the loop of the prior GAN that made the crafting
                    # set (GAN-fed methods; the victim itself unless uaps.in_loop is set)
                    "prior_in_loop": meta.get("prior_in_loop"),
                    "classes_covered": meta.get("classes_covered"),
                    "crafting_images": meta.get("crafting_images"),
                    "craft_seconds": meta.get("wall_time_s"),
                    "num_test": metrics["num_test"],
                }
            )
            for k, (fooled, accuracy) in enumerate(
                zip(metrics["per_class_fooling_rate"], metrics["per_class_accuracy"], strict=True)
            ):
                per_class.append(
                    {
                        "seed": entry["seed"],
                        "method": entry["method"],
                        "crafted_on": entry["crafted_on"],
                        "evaluated_on": name,
                        "class": test.class_names[k],
                        "fooling_rate": fooled,
                        "accuracy": accuracy,
                    }
                )
    return rows, per_class


def uap_budget_sweep(
    perturbation_files,
    meta_files,
    budgets,
    victims,
    victim_models,
    test_path,
    out_table,
    out_figure,
    seed: int = 0,
    device="auto",
    threads=None,
) -> pd.DataFrame:
    """Rule uap_budget_sweep: the data-driven perturbation (GAP on each victim's training
    subset) crafted at each budget of ``uaps.sweep.eps``, on its own victim's test split:
    the premise of the perturbation claims (the data-driven perturbation must fool enough
    predictions for the methods to be told apart), read before the multi-seed run.

    ``perturbation_files`` and ``meta_files`` run over ``budgets``, then ``victims``.
    Writes one row per budget and victim (fooling rate, accuracy, per group) and the
    figure of fooling rate against budget."""
    keys = [(budget, victim) for budget in budgets for victim in victims]
    if not len(keys) == len(perturbation_files) == len(meta_files):
        raise ValueError(f"{len(keys)} perturbations expected, {len(perturbation_files)} given")
    set_threads(threads)
    torch_device = resolve_device(device)
    rows = []
    models = dict(zip(victims, victim_models, strict=True))
    for (budget, victim), path, meta_path in zip(keys, perturbation_files, meta_files, strict=True):
        meta, value = _checked_meta(meta_path, budget)
        entry = {"seed": seed, "method": "data_driven", "crafted_on": victim, "path": path}
        own, _ = perturbation_rows(
            [{**entry, "meta": meta, "budget": value}],
            {victim: models[victim]},
            test_path,
            torch_device,
        )
        rows += [{**row, "eps_value": value} for row in own]
    table = pd.DataFrame(rows).sort_values(["crafted_on", "eps_value"])
    Path(out_table).parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(out_table, index=False)
    plot_uap_budget_sweep(table, out_figure)
    return table


def uap_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Mean, standard deviation and count over seeds per method, crafting and evaluated victim."""
    keys = ["method", "crafted_on", "evaluated_on", "transfer"]
    values = ["fooling_rate", "accuracy", "classes_covered"]
    grouped = table.groupby(keys, sort=False)[values]
    summary = grouped.agg(["mean", "std", "count"])
    summary.columns = [f"{v}_{s}" for v, s in summary.columns]
    return summary.reset_index()


def _checked_meta(path, eps) -> tuple[dict, float]:
    """A perturbation's meta and the budget its array must keep: the configured ``eps``
    (the meta must name the same), else the meta's own."""
    meta = _read_meta(path)
    if eps is None:
        return meta, budget_value(meta["eps"])
    budget = budget_value(eps)
    if abs(budget_value(meta["eps"]) - budget) > 1e-9:
        raise DataFileError(
            path,
            f"crafted at eps {meta['eps']}; the config's uaps.eps is {eps} "
            "(rerun the crafting rule)",
        )
    return meta, budget


def _read_meta(path) -> dict:
    """A perturbation's meta.json: an object whose ``eps`` is a budget; errors name it."""
    try:
        meta = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as err:
        raise DataFileError(path, f"not a readable perturbation meta file ({err})") from None
    if not isinstance(meta, dict):
        raise DataFileError(path, f"expected a JSON object, found a {type(meta).__name__}")
    if "eps" not in meta:
        raise DataFileError(path, "has no 'eps' (the budget the perturbation was crafted at)")
    try:
        budget_value(meta["eps"])
    except (TypeError, ValueError) as err:
        raise DataFileError(path, f"'eps' is not a budget ({err})") from None
    return meta


def figure_uap_perturbations(
    perturbation_files: dict,
    victim_path,
    test_path,
    eps,
    out,
    victim_name: str,
    examples: int = 6,
    device="cpu",
) -> dict:
    """The figure of each method's perturbation (``perturbation_files``: method -> file)
    with the first test image of ``examples`` classes, perturbed, under the victim."""
    victim, payload = load_classifier(victim_path, device)
    size, channels = int(payload["image_size"]), int(payload["arch"]["channels"])
    eps01 = budget_value(eps)
    test = load_image_set(test_path)
    firsts = [int(np.flatnonzero(test.labels == k)[0]) for k in np.unique(test.labels)][:examples]
    images = test.images[firsts]
    perturbations, predictions = {}, {}
    for method, path in perturbation_files.items():
        delta = load_perturbation(path, size, channels, eps01)
        perturbations[method] = delta
        predictions[method] = perturbed_predictions(victim, images, delta, device)
    return plot_uap_perturbations(
        perturbations, images, predictions, test.class_names, eps01, victim_name, out
    )


def figure_uap_fooling_rate(summary_path, out) -> dict:
    return plot_uap_fooling_rate(read_table(summary_path), out)


def figure_uap_transfer(summary_path, out) -> dict:
    return plot_uap_transfer(read_table(summary_path), out)


def uap_figure(figure: str, inputs, out, params) -> dict:
    """Rules figure_uap_*: ``figure`` from the rule's named ``inputs`` and ``params``."""
    if figure == "uap_perturbations":
        files = dict(zip(params["methods"], inputs.perturbations, strict=True))
        victim = params["victim"][0]
        return figure_uap_perturbations(
            files, inputs.victim[0], inputs.test, params["eps"], out, victim
        )
    if figure == "uap_fooling_rate":
        return figure_uap_fooling_rate(inputs.summary, out)
    if figure == "uap_transfer":
        return figure_uap_transfer(inputs.summary, out)
    raise ValueError(f"unknown UAP figure {figure!r}; expected one of {UAP_FIGURES}")
