"""Figures of the GAN experiments, drawn from the tables and training logs.

- class distribution of generated samples per method (class-balancing GAN, Fig. 2);
- FID and KL to uniform per method and imbalance ratio (its Table 1, as a figure);
- validation FID against iteration and wall time (Fast-RobGAN Fig. 5, thesis Fig. 5.1);
- the sample grids of all methods side by side.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from advtail.errors import DataFileError  # noqa: E402


def _save(fig, path) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


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
    """Per subset, the share of each class among a method's samples (annotator labels).

    ``subset_counts``: subset name -> the subset's counts.csv table; its shares are drawn
    as a black step line (the training distribution) and 1/K as a dotted line. Returns
    the bars drawn: subset -> (GAN x class) shares.
    """
    drawn = {}
    shares = _share_columns(table)
    subsets = sorted(table["subset"].unique())
    fig, axes = plt.subplots(
        1, len(subsets), figsize=(4.8 * len(subsets) + 0.8, 3.4), squeeze=False
    )
    for ax, subset in zip(axes[0], subsets, strict=True):
        rows = table[table["subset"] == subset].sort_values("gan")
        drawn[subset] = rows.set_index("gan")[shares].astype(float)
        k = len(shares)
        x = np.arange(k)
        width = 0.8 / max(len(rows), 1)
        for i, (_, row) in enumerate(rows.iterrows()):
            ax.bar(x - 0.4 + (i + 0.5) * width, row[shares].astype(float), width, label=row["gan"])
        if subset in subset_counts:
            counts = subset_counts[subset]["labelled"].to_numpy(dtype=float)
            ax.step(x, counts / counts.sum(), where="mid", color="black", lw=1.2, label="train")
        ax.axhline(1.0 / k, color="grey", ls=":", lw=1, label="uniform")
        ax.set_xticks(x, [c.removeprefix("share_") for c in shares])
        ax.set_xlabel("class (annotator label)")
        ax.set_ylabel("share of samples")
        ax.set_title(f"subset {subset}", fontsize=9)
        ax.legend(fontsize=7, ncol=2)
    _save(fig, path)
    return drawn


def plot_fid_kl(table: pd.DataFrame, path) -> dict:
    """FID and KL to uniform per method (bars) and imbalance ratio (groups).

    Returns the bars drawn: column -> (GAN x imbalance ratio) means.
    """
    drawn = {}
    ratios = sorted(table["imbalance_ratio"].unique(), reverse=True)
    gans = sorted(table["gan"].unique())
    fig, axes = plt.subplots(1, 2, figsize=(9.5, 3.4))
    width = 0.8 / max(len(gans), 1)
    x = np.arange(len(ratios))
    for ax, column, label in (
        (axes[0], "fid", fid_label(table)),
        (axes[1], "kl_uniform", "KL(p_hat || uniform)"),
    ):
        drawn[column] = table.pivot_table(column, "gan", "imbalance_ratio", "mean").reindex(
            index=gans, columns=ratios
        )
        for i, gan in enumerate(gans):
            ax.bar(x - 0.4 + (i + 0.5) * width, drawn[column].loc[gan], width, label=gan)
        ax.set_xticks(x, [f"rho = {r:g}" for r in ratios])
        ax.set_ylabel(label)
        ax.set_title(f"{label}, lower is better", fontsize=9)
    axes[1].legend(fontsize=7)
    _save(fig, path)
    return drawn


def read_validation_log(path) -> pd.DataFrame:
    """The validation rows of a GAN's log.csv (step, seconds, val_* columns)."""
    try:
        log = pd.read_csv(path)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise DataFileError(path, f"not a readable GAN training log ({err})") from None
    fid = [c for c in log.columns if c.startswith("val_fid")]
    if not fid or not {"step", "seconds"} <= set(log.columns):
        raise DataFileError(path, "expected columns step, seconds and val_fid_* (validation)")
    return log.dropna(subset=fid[:1])


def plot_validation_curves(logs: dict, path) -> None:
    """Validation FID of each GAN against generator iterations and wall-clock seconds."""
    fig, axes = plt.subplots(1, 2, figsize=(9.5, 3.4), sharey=True)
    column = None
    for name, log in sorted(logs.items()):
        column = next(c for c in log.columns if c.startswith("val_fid"))
        axes[0].plot(log["step"], log[column], marker="o", ms=3, label=name)
        axes[1].plot(log["seconds"], log[column], marker="o", ms=3, label=name)
    label = "validation FID on annotator features" if column == "val_fid_annotator" else "FID"
    axes[0].set_xlabel("generator iteration")
    axes[1].set_xlabel("training wall time (s)")
    axes[0].set_ylabel(label)
    axes[1].legend(fontsize=7)
    _save(fig, path)


def plot_sample_grids(grids: dict, path) -> None:
    """The per-class sample grids (PNG files) of every method side by side."""
    names = sorted(grids)
    fig, axes = plt.subplots(1, len(names), figsize=(3.2 * len(names), 3.6), squeeze=False)
    for ax, name in zip(axes[0], names, strict=True):
        ax.imshow(plt.imread(grids[name]))
        ax.set_title(name, fontsize=9)
        ax.axis("off")
    _save(fig, path)


# ------------------------------------------------------------ from the workflow's files
def read_table(path) -> pd.DataFrame:
    try:
        return pd.read_csv(path)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise DataFileError(path, f"not a readable CSV table ({err})") from None


def figure_from_files(name: str, inputs: dict, out_png, labels: dict | None = None) -> None:
    """Draw figure ``name`` of the workflow from its input files (see the rules).

    ``labels``: for inputs that are lists of files (one per GAN or subset), the name of
    each file, in order; those inputs become ``{name: path}``.
    """
    labels = labels or {}
    inputs = {
        key: dict(zip(labels[key], files, strict=True)) if key in labels else files
        for key, files in inputs.items()
    }
    if name == "class_distribution":
        counts = {subset: read_table(path) for subset, path in inputs["counts"].items()}
        plot_class_distribution(read_table(inputs["table"]), counts, out_png)
    elif name == "fid_kl":
        plot_fid_kl(read_table(inputs["table"]), out_png)
    elif name == "validation_fid":
        logs = {gan: read_validation_log(path) for gan, path in inputs["logs"].items()}
        plot_validation_curves(logs, out_png)
    elif name == "sample_grids":
        plot_sample_grids(inputs["grids"], out_png)
    else:
        raise ValueError(f"unknown figure {name!r}")
