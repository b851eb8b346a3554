"""Figures of the robustness evaluation, drawn from results/tables/robustness.csv and
the examples each evaluation keeps.

- robust accuracy per head/body/tail group, per model and attack (REAT, Table 2's
  groups as bars);
- the class distribution of the predictions on adversarial examples (REAT, Fig. 1);
- accuracy against the budget eps (Rob-GAN, Table 1, as a figure);
- clean images, their adversarial examples and the magnified perturbations.

Every value is the mean over a method's seeds, with the standard deviation as error bars.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from advtail.plots.style import error_bars, panel_grid, plt, save_figure

GROUP_COLUMNS = ("accuracy", "head_accuracy", "body_accuracy", "tail_accuracy")


def _ordered(values) -> list:
    """Unique values in order of first appearance (the config's order of attacks)."""
    return list(dict.fromkeys(values))


def _eps_text(rows: pd.DataFrame) -> str:
    return f"{rows['norm'].iloc[0]} eps {rows['eps_label'].iloc[0]}"


def plot_group_accuracy(table: pd.DataFrame, threat: str, path) -> dict:
    """Per method (a panel), robust accuracy overall and per group (bar groups) under
    each attack of ``threat`` (bars). Returns method -> (attack x column) means."""
    rows = table[(table["threat"] == threat) & (table["attack"] != "worst_case")]
    methods = sorted(rows["method"].unique())
    attacks = _ordered(rows["attack"])
    fig, axes, starts = panel_grid(len(methods), (3.6, 3.2), extra_width=2.0, sharey=True)
    drawn = {}
    x = np.arange(len(GROUP_COLUMNS))
    width = 0.8 / max(len(attacks), 1)
    for ax, method in zip(axes, methods, strict=True):
        grouped = rows[rows["method"] == method].groupby("attack")[list(GROUP_COLUMNS)]
        means = grouped.mean().astype(float).reindex(attacks)
        sds = grouped.std(ddof=1).astype(float).reindex(attacks)
        drawn[method] = means
        for i, attack in enumerate(attacks):
            ax.bar(
                x - 0.4 + (i + 0.5) * width,
                means.loc[attack],
                width,
                yerr=error_bars(sds.loc[attack]),
                capsize=1.5,
                error_kw={"lw": 0.7},
                label=attack,
            )
        ax.set_xticks(x, ["all", "head", "body", "tail"])
        ax.set_ylim(0, 1.05)
        ax.set_title(f"{method} (n={grouped.size().max()})")
    for ax in starts:
        ax.set_ylabel(f"robust accuracy, {_eps_text(rows)}")
    handles, names = axes[0].get_legend_handles_labels()
    fewer = rows.groupby("attack")["num_attacked"].max()
    names = [f"{a} ({fewer[a]:.0f} images)" if fewer[a] < fewer.max() else a for a in names]
    fig.legend(handles, names, loc="center right")
    save_figure(fig, path, rect=(0, 0, 1 - 1.9 / fig.get_size_inches()[0], 1))
    return drawn


def _count_columns(table: pd.DataFrame) -> list[str]:
    return [c for c in table.columns if c.startswith("pred_")]


def plot_adversarial_predictions(table: pd.DataFrame, threat: str, attack: str, path) -> dict:
    """Per method (a panel), how many test images the model assigns to each class, clean
    and under ``attack`` of ``threat``: where adversarial examples land. The true class
    counts of the images are the black step line. Returns method -> (clean, attack) x
    class means."""
    rows = table[(table["threat"] == threat) & table["attack"].isin(["clean", attack])]
    counts = _count_columns(rows)
    methods = sorted(rows["method"].unique())
    fig, axes, starts = panel_grid(len(methods), (3.8, 3.2), sharey=True)
    drawn = {}
    x = np.arange(len(counts))
    for ax, method in zip(axes, methods, strict=True):
        grouped = rows[rows["method"] == method].groupby("attack")[counts]
        means = grouped.mean().astype(float).reindex(["clean", attack])
        sds = grouped.std(ddof=1).astype(float).reindex(["clean", attack])
        drawn[method] = means
        for i, name in enumerate(["clean", attack]):
            ax.bar(
                x - 0.2 + 0.4 * i,
                means.loc[name],
                0.4,
                yerr=error_bars(sds.loc[name]),
                capsize=1.5,
                error_kw={"lw": 0.7},
                label=name,
            )
        truth = rows[(rows["method"] == method) & (rows["attack"] == "clean")][
            [c.replace("pred_", "true_", 1) for c in counts]
        ]
        if len(truth):
            ax.step(x, truth.mean().to_numpy(float), where="mid", color="black", lw=1, label="true")
        ax.set_xticks(x, [c.removeprefix("pred_") for c in counts])
        ax.set_title(method)
        ax.set_xlabel("predicted class")
    for ax in starts:
        ax.set_ylabel(f"test images, {_eps_text(rows)}")
    axes[min(2, len(axes) - 1)].legend()
    save_figure(fig, path)
    return drawn


def plot_accuracy_against_eps(table: pd.DataFrame, attack: str, path) -> dict:
    """Per norm (a panel), accuracy under ``attack`` against eps (x 255), a line per
    method; eps 0 is the clean accuracy. Returns (norm, method) -> Series over eps."""
    drawn = {}
    norms = sorted(table["norm"].unique())
    fig, axes = plt.subplots(1, len(norms), figsize=(4.6 * len(norms), 3.4), squeeze=False)
    for ax, norm in zip(axes[0], norms, strict=True):
        rows = table[table["norm"] == norm]
        for method in sorted(rows["method"].unique()):
            own = rows[rows["method"] == method]
            attacked = own[own["attack"] == attack].groupby("eps")["accuracy"]
            clean = own[own["attack"] == "clean"]["accuracy"]
            mean = pd.concat([pd.Series({0.0: clean.mean()}), attacked.mean()]).sort_index()
            clean_sd = clean.groupby(own["seed"]).mean().std(ddof=1)
            sd = pd.concat([pd.Series({0.0: clean_sd}), attacked.std(ddof=1)]).sort_index()
            drawn[(norm, method)] = mean
            ax.errorbar(
                mean.index * 255,
                mean.values,
                yerr=error_bars(sd.values),
                marker="o",
                ms=3,
                capsize=2,
                label=method,
            )
        ax.set_xlabel(f"eps ({norm}, x 1/255 of the [0, 1] pixel scale)")
        ax.set_ylabel(f"accuracy under {attack}")
        ax.set_ylim(0, 1.02)
        ax.set_title(f"{norm}: accuracy against eps (0: clean)")
        ax.legend()
    save_figure(fig, path)
    return drawn


def _to_display(image: np.ndarray) -> np.ndarray:
    """A [-1, 1] CHW image as [0, 1] HWC (grey images as HW)."""
    image = np.clip((np.asarray(image, dtype=float) + 1) / 2, 0, 1).transpose(1, 2, 0)
    return image[:, :, 0] if image.shape[2] == 1 else image


def plot_adversarial_examples(
    examples: dict, attack: str, class_names, path, title: str = ""
) -> dict:
    """Columns: one test image per class. Rows: the clean images, then per model its
    adversarial examples under ``attack`` and their perturbations, magnified so the
    largest change of that model's row is full scale (0.5 grey is no change).

    ``examples``: model name -> the arrays of its ``{threat}_examples.npz``. Returns
    model -> the magnification drawn."""
    models = list(examples)
    first = examples[models[0]]
    labels = np.asarray(first["labels"])
    rows = 1 + 2 * len(models)
    fig, axes = plt.subplots(
        rows, len(labels), figsize=(0.75 * len(labels) + 1.6, 0.8 * rows + 0.5), squeeze=False
    )
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    grey = {"cmap": "gray", "vmin": 0, "vmax": 1}
    for j, label in enumerate(labels):
        axes[0, j].imshow(_to_display(first["clean"][j]), **grey)
        axes[0, j].set_title(str(class_names[int(label)]))
    axes[0, 0].set_ylabel("clean", rotation=0, ha="right", va="center")
    magnified = {}
    for m, model in enumerate(models):
        arrays = examples[model]
        adversarial, clean = np.asarray(arrays[f"adv_{attack}"]), np.asarray(arrays["clean"])
        delta = adversarial - clean
        factor = 1.0 / max(float(np.abs(delta).max()), 1e-12)
        magnified[model] = factor
        predictions = np.asarray(arrays[f"pred_{attack}"])
        for j in range(len(labels)):
            top, bottom = axes[1 + 2 * m, j], axes[2 + 2 * m, j]
            top.imshow(_to_display(adversarial[j]), **grey)
            wrong = predictions[j] != labels[j]
            top.set_xlabel(
                f"-> {class_names[int(predictions[j])]}",
                fontsize="small",
                color="#D55E00" if wrong else "black",
                labelpad=1,
            )
            bottom.imshow(_to_display(np.clip(delta[j] * factor, -1, 1)), **grey)
        axes[1 + 2 * m, 0].set_ylabel(f"{model}\n{attack}", rotation=0, ha="right", va="center")
        axes[2 + 2 * m, 0].set_ylabel(
            f"perturbation\nx{factor:.0f}", rotation=0, ha="right", va="center"
        )
    if title:
        fig.suptitle(title)
    save_figure(fig, path)
    return magnified


def plot_adversarial_prediction_history(histories: dict, path) -> dict:
    """REAT Fig. 1: per method (a panel, four to a row), the share of its training
    adversarial examples predicted as each class (rows, head at the top) in each epoch
    (columns), averaged over seeds, on one colour scale. ``histories``: method ->
    {"shares": list of epochs x classes arrays (one per seed), "labels": class labels}.
    Returns method -> mean shares."""
    methods = sorted(histories)
    drawn = {}
    for method in methods:
        runs = histories[method]["shares"]
        epochs = min(len(r) for r in runs)  # seeds of one method train equally long
        drawn[method] = np.mean([r[:epochs] for r in runs], axis=0)
    top = max(0.5, max(float(m.max()) for m in drawn.values()))
    columns = min(4, len(methods))
    rows = -(-len(methods) // columns)
    fig, axes = plt.subplots(
        rows,
        columns,
        figsize=(3.2 * columns + 1.2, 3.2 * rows),
        squeeze=False,
        layout="constrained",  # places the colorbar the panels share
    )
    for ax in axes.flat[len(methods) :]:
        ax.set_axis_off()
    image = None
    for ax, method in zip(axes.flat, methods, strict=False):  # spare panels stay empty
        mean = drawn[method]
        image = ax.imshow(
            mean.T,
            aspect="auto",
            cmap="viridis",
            vmin=0,
            vmax=top,
            interpolation="nearest",
            extent=(0.5, len(mean) + 0.5, mean.shape[1] - 0.5, -0.5),
        )
        labels = histories[method]["labels"]
        ax.set_yticks(np.arange(len(labels)), labels)
        ax.set_xlabel("epoch")
        ax.set_title(f"{method} (n={len(histories[method]['shares'])})")
    for ax in axes[:, 0]:
        ax.set_ylabel("predicted class (training count)")
    fig.colorbar(image, ax=axes.ravel().tolist(), label="share of adversarial examples")
    save_figure(fig, path, tight=False)
    return drawn
