"""Figures of the GAN experiments, drawn from the tables and training logs.

- class distribution of generated samples per method (class-balancing GAN, Fig. 2);
- FID and KL to uniform per method and imbalance ratio (its Table 1, as a figure);
- validation FID against iteration and wall time (Fast-RobGAN Fig. 5, thesis Fig. 5.1);
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from advtail.plots.style import error_bars, plt, save_figure


def with_method(table: pd.DataFrame) -> pd.DataFrame:
    """The table with a ``method`` column (a table without seeds: each GAN its own)."""
    if "method" in table.columns:
        return table
    return table.assign(method=table["gan"])


def _share_columns(table: pd.DataFrame) -> list[str]:
    return [c for c in table.columns if c.startswith("share_")]


def fid_label(table: pd.DataFrame) -> str:
    """Axis label naming the backbone: an annotator FID is never called Inception FID."""
    backbones = set(table["fid_backbone"].dropna())
    if backbones == {"inception"}:
        return "FID (Inception)"
    if backbones == {"annotator"}:
        return "FID on annotator features"
    return "FID (" + ", ".join(sorted(backbones)) + ")"


def plot_class_distribution(table: pd.DataFrame, subset_counts: dict, path) -> dict:
    """Per subset, the share of each class among a method's samples (annotator labels),
    the mean over the method's seeds with their standard deviation as error bars.

    ``subset_counts``: subset name -> the subset's counts.csv table; its shares are drawn
    as a black step line (the training distribution) and 1/K as a dotted line. Returns
    the bars drawn: subset -> (method x class) mean shares.
    """
    drawn = {}
    table = with_method(table)
    shares = _share_columns(table)
    subsets = sorted(table["subset"].unique())
    fig, axes = plt.subplots(
        1, len(subsets), figsize=(4.8 * len(subsets) + 0.8, 3.4), squeeze=False
    )
    for ax, subset in zip(axes[0], subsets, strict=True):
        rows = table[table["subset"] == subset]
        grouped = rows.groupby("method")[shares]
        means, sds = grouped.mean().astype(float), grouped.std(ddof=1).astype(float)
        runs = grouped.size()
        drawn[subset] = means
        k = len(shares)
        x = np.arange(k)
        width = 0.8 / max(len(means), 1)
        for i, method in enumerate(means.index):
            ax.bar(
                x - 0.4 + (i + 0.5) * width,
                means.loc[method],
                width,
                yerr=error_bars(sds.loc[method]),
                capsize=1.5,
                error_kw={"lw": 0.7},
                label=f"{method} (n={runs[method]})",
            )
        if subset in subset_counts:
            counts = subset_counts[subset]["labelled"].to_numpy(dtype=float)
            ax.step(x, counts / counts.sum(), where="mid", color="black", lw=1.2, label="train")
        ax.axhline(1.0 / k, color="grey", ls=":", lw=1, label="uniform")
        ax.set_xticks(x, [c.removeprefix("share_") for c in shares])
        ax.set_xlabel("class (annotator label)")
        ax.set_ylabel("share of samples")
        ax.set_title(f"subset {subset}; mean ± sd over seeds (n)")
        ax.legend(ncol=2)
    save_figure(fig, path)
    return drawn


def plot_fid_kl(table: pd.DataFrame, path) -> dict:
    """FID and KL to uniform per method (bars) and imbalance ratio (groups): the mean over
    seeds, with the standard deviation as error bars.

    Returns the bars drawn: column -> (method x imbalance ratio) means.
    """
    drawn = {}
    table = with_method(table)
    ratios = sorted(table["imbalance_ratio"].unique(), reverse=True)
    methods = sorted(table["method"].unique())
    fig, axes = plt.subplots(1, 2, figsize=(9.5, 3.4))
    width = 0.8 / max(len(methods), 1)
    x = np.arange(len(ratios))
    for ax, column, label in (
        (axes[0], "fid", fid_label(table)),
        (axes[1], "kl_uniform", "KL(p_hat || uniform)"),
    ):
        pivot = {
            stat: table.pivot_table(column, "method", "imbalance_ratio", stat).reindex(
                index=methods, columns=ratios
            )
            for stat in ("mean", "std")
        }
        drawn[column] = pivot["mean"]
        for i, method in enumerate(methods):
            ax.bar(
                x - 0.4 + (i + 0.5) * width,
                pivot["mean"].loc[method],
                width,
                yerr=error_bars(pivot["std"].loc[method]),
                capsize=2,
                label=method,
            )
        ax.set_xticks(x, [f"rho = {r:g}" for r in ratios])
        ax.set_xlabel("imbalance ratio of the subset (n_max / n_min)")
        ax.set_ylabel(label)
        ax.set_title(f"{label}, lower is better; mean ± sd over seeds")
    axes[1].legend()
    save_figure(fig, path)
    return drawn


def plot_validation_curves(
    logs: dict, path, methods: dict | None = None, kept: dict | None = None
) -> dict:
    """Validation FID of each method against generator iterations and wall-clock seconds:
    the mean over the method's seeds (``methods``: log name -> method), with a band of
    one standard deviation. ``kept``: log name -> the step whose generator the run kept,
    marked with a star on that run's own validation FID. Returns method -> the mean
    curve drawn (indexed by step)."""
    fig, axes = plt.subplots(1, 2, figsize=(9.5, 3.4), sharey=True)
    column = next(c for log in logs.values() for c in log.columns if c.startswith("val_fid"))
    grouped: dict = {}
    for name, log in logs.items():
        grouped.setdefault((methods or {}).get(name, name), []).append(log)
    drawn = {}
    names = {}
    for name in logs:
        names.setdefault((methods or {}).get(name, name), []).append(name)
    for method, runs in sorted(grouped.items()):
        frame = pd.concat(runs).groupby("step")[[column, "seconds"]]
        mean, sd = frame.mean(), frame.std(ddof=1).fillna(0.0)
        drawn[method] = mean[column]
        label = f"{method} (n={len(runs)})"
        for ax, x in ((axes[0], mean.index.to_numpy()), (axes[1], mean["seconds"].to_numpy())):
            (line,) = ax.plot(x, mean[column], marker="o", ms=3, label=label)
            ax.fill_between(
                x,
                mean[column] - sd[column],
                mean[column] + sd[column],
                alpha=0.2,
                color=line.get_color(),
                lw=0,
            )
        for name in names[method]:
            step = (kept or {}).get(name)
            row = logs[name][logs[name]["step"] == step]
            if row.empty:
                continue
            for ax, x in ((axes[0], row["step"]), (axes[1], row["seconds"])):
                ax.plot(
                    x,
                    row[column],
                    marker="*",
                    ms=13,
                    ls="none",
                    color=line.get_color(),
                    markeredgecolor="black",
                    markeredgewidth=0.8,
                )
    if kept:
        axes[1].plot(
            [],
            [],
            marker="*",
            ms=13,
            ls="none",
            color="white",
            markeredgecolor="black",
            label="kept generator (per seed)",
        )
    label = "validation FID on annotator features" if column == "val_fid_annotator" else "FID"
    axes[0].set_xlabel("generator iteration")
    axes[1].set_xlabel("training wall time (s)")
    axes[0].set_ylabel(label)
    axes[0].set_title("mean ± sd over seeds (n)")
    axes[1].legend()
    save_figure(fig, path)
    return drawn
