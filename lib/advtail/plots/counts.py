"""Bar chart of a subset's per-class counts."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

GROUP_COLOURS = {"head": "#3b6ea8", "body": "#7fa650", "tail": "#c8553d"}


def plot_class_counts(table: pd.DataFrame, title: str, path: str | Path) -> None:
    """Bars of labelled counts per class, coloured by head/body/tail group.

    Unlabelled images (labelled-fraction subsets) are stacked on top, hatched.
    """
    fig, ax = plt.subplots(figsize=(max(4.0, 0.35 * len(table) + 2.0), 3.2))
    colours = [GROUP_COLOURS[g] for g in table["group"]]
    x = table["class"].to_numpy()
    ax.bar(x, table["labelled"], color=colours, edgecolor="black", linewidth=0.4)
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in GROUP_COLOURS.values()]
    names = list(GROUP_COLOURS)
    if table["unlabelled"].sum() > 0:
        bars = ax.bar(
            x,
            table["unlabelled"],
            bottom=table["labelled"],
            color="white",
            edgecolor="grey",
            hatch="//",
            linewidth=0.4,
        )
        handles.append(bars[0])
        names.append("unlabelled")
    ax.legend(handles, names, loc="upper right", fontsize=7)
    if len(table) <= 20:
        ax.set_xticks(x, table["class_name"], rotation=45 if len(table) > 10 else 0)
    ax.set_xlabel("class")
    ax.set_ylabel("images")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
