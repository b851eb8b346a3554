"""Bar chart of a subset's per-class counts."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from advtail.plots.style import GROUP_COLOURS, plt, save_figure


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
    ax.legend(handles, names, loc="upper right")
    if len(table) <= 20:
        ax.set_xticks(x, table["class_name"], rotation=45 if len(table) > 10 else 0)
    ax.set_xlabel("class")
    ax.set_ylabel("images")
    ax.set_title(title)
    save_figure(fig, path)
