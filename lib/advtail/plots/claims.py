"""The claims' forest plot: per claim, the treatment's improvement over the control in
each seed, their mean and its 95% interval, against zero (no difference)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from advtail.plots.style import OKABE_ITO, plt, save_figure

VERDICT_COLOURS = {
    "holds": OKABE_ITO[2],
    "fails": OKABE_ITO[5],
    "mixed": OKABE_ITO[1],
    "premise not met": "#777777",
    "one seed: not evidence": "#777777",
}


def plot_claims(claims: pd.DataFrame, pairs: pd.DataFrame, path) -> dict:
    """One row per claim, each with its own axis (the claims' columns have their own
    units): the per-seed improvements (dots), their mean (diamond) with its 95% t
    interval (bar; none for one seed), and zero. The verdict is written beside each row."""
    n = len(claims)
    fig, axes = plt.subplots(n, 1, figsize=(8.5, 0.95 * n + 0.9), squeeze=False)
    for ax, row in zip(axes[:, 0], claims.itertuples(), strict=True):
        mine = pairs[(pairs["claim"] == row.claim) & (pairs["experiment"] == row.experiment)]
        colour = VERDICT_COLOURS.get(row.verdict, "black")
        values = mine["improvement"].to_numpy(dtype=float)
        jitter = np.linspace(-0.15, 0.15, len(values)) if len(values) > 1 else np.zeros(1)
        ax.scatter(values, jitter[: len(values)], s=18, color="#999999", zorder=2)
        if np.isfinite(row.ci_low):
            ax.plot([row.ci_low, row.ci_high], [0, 0], color=colour, lw=2.5, zorder=3)
        ax.scatter([row.improvement_mean], [0], marker="D", s=40, color=colour, zorder=4)
        ax.axvline(0, color="black", lw=0.8)
        span = np.nanmax(np.abs([*values, row.ci_low, row.ci_high, row.improvement_mean]))
        span = span * 1.15 if np.isfinite(span) and span > 0 else 1.0
        ax.set_xlim(-span, span)
        ax.set_ylim(-0.5, 0.5)
        ax.set_yticks([])
        ax.set_ylabel(row.claim, rotation=0, ha="right", va="center")
        ax.text(
            1.02,
            0.5,
            f"{row.verdict}\n{row.held} of {row.n_pairs} held",
            transform=ax.transAxes,
            va="center",
            color=colour,
        )
        ax.set_title(
            f"{row.column}: {row.treatment} vs {row.control} ({row.better} is better)",
            loc="left",
            fontsize=9,
        )
    axes[-1, 0].set_xlabel("improvement of the treatment over the control (per claim's units)")
    fig.suptitle("Claims: paired improvement per seed, mean and 95% t interval")
    save_figure(fig, path, rect=(0, 0, 0.86, 1))
    return {"claims": n}
