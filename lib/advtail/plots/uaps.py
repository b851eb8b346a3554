"""Figures of the universal-perturbation stage: the perturbations with perturbed
examples, fooling rate per method, and the transfer heat maps."""

from __future__ import annotations

import numpy as np
import pandas as pd

from advtail.plots.style import OKABE_ITO, error_bars, plt, save_figure

METHOD_LABELS = {
    "data_free": "data-free\n(prior GAN, reg. + entropy)",
    "entropy_only": "prior GAN,\nentropy only",
    "prior_images": "prior images",
    "data_driven": "data-driven\n(victim's train set)",
    "deepfool": "UAP (DeepFool)\ntrain set",
    "random": "random sign",
}


def _label(method: str) -> str:
    return METHOD_LABELS.get(method, method)


def plot_uap_perturbations(
    perturbations: dict,
    images: np.ndarray,
    predictions: dict,
    class_names,
    eps01: float,
    victim: str,
    path,
) -> dict:
    """One row per method: its perturbation (magnified: -eps black, +eps white) and the
    test ``images`` with it added, titled clean -> perturbed prediction of ``victim``."""
    methods = list(perturbations)
    n = len(images)
    fig, axes = plt.subplots(
        len(methods), n + 1, figsize=(1.3 * (n + 1) + 1.2, 1.45 * len(methods)), squeeze=False
    )
    for row, method in enumerate(methods):
        delta = perturbations[method]
        ax = axes[row, 0]
        ax.imshow(
            _display(delta / (2 * eps01) + 0.5),
            cmap="gray",
            vmin=0,
            vmax=1,
            interpolation="nearest",
        )
        ax.set_ylabel(_label(method), rotation=0, ha="right", va="center")
        clean, perturbed = predictions[method]
        for col in range(n):
            image = np.clip(images[col].astype(np.float32) / 255.0 + delta, 0, 1)
            ax = axes[row, col + 1]
            ax.imshow(_display(image), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            fooled = clean[col] != perturbed[col]
            ax.set_title(
                f"{class_names[clean[col]]}→{class_names[perturbed[col]]}",
                fontsize="small",
                color=OKABE_ITO[5] if fooled else "black",
            )
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0, 0].set_title(f"v (±{eps01 * 255:.0f}/255,\nmagnified)")
    fig.suptitle(
        f"Universal perturbations against {victim} (titles: prediction clean → perturbed)",
        fontsize="small",
    )
    save_figure(fig, path)
    return {"methods": methods, "examples": n}


def _display(image: np.ndarray) -> np.ndarray:
    return image[:, :, 0] if image.shape[2] == 1 else image


def plot_uap_fooling_rate(summary: pd.DataFrame, path) -> dict:
    """Fooling rate of each method against the victim it was crafted on (mean and
    standard deviation over seeds), one group of bars per victim."""
    own = summary[~summary["transfer"]]
    methods = list(dict.fromkeys(own["method"]))
    victims = list(dict.fromkeys(own["evaluated_on"]))
    width = 0.8 / len(methods)
    fig, ax = plt.subplots(figsize=(max(6.0, 1.6 * len(victims) + 3), 3.6))
    plotted = {}
    for i, method in enumerate(methods):
        rows = own[own["method"] == method].set_index("evaluated_on").reindex(victims)
        x = np.arange(len(victims)) + (i - (len(methods) - 1) / 2) * width
        ax.bar(
            x,
            rows["fooling_rate_mean"],
            width,
            yerr=error_bars(rows["fooling_rate_std"]),
            capsize=2,
            label=_label(method).replace("\n", " "),
            color=OKABE_ITO[i % len(OKABE_ITO)],
        )
        plotted[method] = rows["fooling_rate_mean"].tolist()
    seeds = int(own["fooling_rate_count"].max())
    ax.set_xticks(np.arange(len(victims)), victims)
    ax.set_xlabel("victim (the perturbation is crafted against it)")
    ax.set_ylabel("fooling rate on the test split")
    ax.set_ylim(0, 1)
    ax.set_title(
        f"Universal perturbations: fooling rate (mean ± sd over {seeds} seed{'s' * (seeds > 1)})",
        fontsize=10,
    )
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5))
    save_figure(fig, path, rect=None)
    return plotted


def plot_uap_budget_sweep(table: pd.DataFrame, path) -> dict:
    """Fooling rate of the data-driven perturbation on its own victim against the budget
    (the perturbation claims' premise sweep), one line per victim."""
    fig, ax = plt.subplots(figsize=(5.5, 3.4))
    plotted = {}
    for i, (victim, rows) in enumerate(table.groupby("crafted_on", sort=False)):
        rows = rows.sort_values("eps_value")
        x = rows["eps_value"].to_numpy() * 255
        ax.plot(x, rows["fooling_rate"], marker="o", label=victim, color=OKABE_ITO[i % 8])
        plotted[victim] = rows["fooling_rate"].tolist()
    ax.set_xlabel("L-inf budget (x/255 on the [0, 1] scale)")
    ax.set_ylabel("fooling rate on the test split")
    ax.set_ylim(0, 1)
    ax.set_title("Data-driven perturbation against budget (one seed)", fontsize=10)
    ax.legend(title="victim", fontsize=8)
    save_figure(fig, path, rect=None)
    return plotted


def plot_uap_transfer(summary: pd.DataFrame, path) -> dict:
    """One heat map per method: mean fooling rate of the perturbation crafted against
    the row's victim, applied to the column's victim."""
    methods = list(dict.fromkeys(summary["method"]))
    victims = list(dict.fromkeys(summary["crafted_on"]))
    columns = min(3, len(methods))
    rows = int(np.ceil(len(methods) / columns))
    fig, axes = plt.subplots(
        rows,
        columns,
        figsize=(3.4 * columns + 0.8, 3.0 * rows),
        squeeze=False,
        constrained_layout=True,
    )
    matrices = {}
    image = None
    for ax, method in zip(axes.flat, methods, strict=False):
        part = summary[summary["method"] == method]
        matrix = part.pivot(index="crafted_on", columns="evaluated_on", values="fooling_rate_mean")
        matrix = matrix.reindex(index=victims, columns=victims)
        image = ax.imshow(matrix.to_numpy(), cmap="viridis", vmin=0, vmax=1)
        for (i, j), value in np.ndenumerate(matrix.to_numpy()):
            ax.text(
                j,
                i,
                f"{value:.2f}",
                ha="center",
                va="center",
                fontsize="small",
                color="white" if value < 0.6 else "black",
            )
        ax.set_xticks(range(len(victims)), victims, rotation=30, ha="right")
        ax.set_yticks(range(len(victims)), victims)
        ax.set_title(_label(method).replace("\n", " "))
        matrices[method] = matrix.to_numpy().tolist()
    for ax in list(axes.flat)[len(methods) :]:
        ax.axis("off")
    for ax in axes[:, 0]:
        ax.set_ylabel("crafted against")
    for ax in axes[-1, :]:
        ax.set_xlabel("applied to")
    if image is not None:
        fig.colorbar(image, ax=axes, shrink=0.8, label="fooling rate")
    save_figure(fig, path, tight=False)
    return matrices
