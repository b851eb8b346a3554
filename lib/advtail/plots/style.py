"""What every figure shares: the Agg backend, a colour-blind-safe palette, text sizes
that stay legible where the report shows a figure, error bars over seeds and saving.

Each PNG records the smallest text it holds (``advtail:min_font_px``, in the PNG's own
pixels), which the report check (tests/report) compares with the size the browser
shows the image at."""

from __future__ import annotations

import logging
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

# Okabe & Ito's colour-blind-safe palette, for every series of the figures
OKABE_ITO = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"]
plt.rcParams["axes.prop_cycle"] = plt.cycler(color=OKABE_ITO)
# head, body and tail classes, from the same palette
GROUP_COLOURS = {"head": "#0072B2", "body": "#E69F00", "tail": "#CC79A7"}
# one size for all text but legends and ticks; figures are saved at DPI, so 10 pt is
# 14 px in the PNG
plt.rcParams.update(
    {
        "font.size": 10,
        "axes.titlesize": 10,
        "axes.labelsize": 10,
        "legend.fontsize": 9,
        "xtick.labelsize": 9,
        "ytick.labelsize": 9,
        "figure.titlesize": 11,
    }
)
DPI = 100


def error_bars(sd):
    """Error-bar lengths: the standard deviation over seeds, none for a single seed."""
    return np.nan_to_num(np.asarray(sd, dtype=float), nan=0.0)


def panel_grid(count: int, panel: tuple[float, float], columns: int = 3, extra_width=0.6, **kwargs):
    """A figure of ``count`` panels of ``panel`` (width, height) inches, ``columns`` per
    row, so that many methods wrap into rows instead of shrinking in the report.
    Returns the figure, the used axes in order, and those that start a row."""
    columns = max(1, min(columns, count))
    rows = -(-count // columns)
    fig, axes = plt.subplots(
        rows,
        columns,
        figsize=(panel[0] * columns + extra_width, panel[1] * rows),
        squeeze=False,
        **kwargs,
    )
    flat = list(axes.flat)
    for ax in flat[count:]:
        ax.set_visible(False)
    return fig, flat[:count], [flat[i] for i in range(0, count, columns)]


def smallest_text_px(fig, dpi: float) -> float:
    """The size in pixels, at ``dpi``, of the smallest visible text of ``fig``."""
    sizes = [
        text.get_fontsize()
        for text in fig.findobj(plt.Text)
        if text.get_visible() and text.get_text().strip()
    ]
    return min(sizes, default=0.0) * dpi / 72.0


def save_figure(fig, path, rect=None, tight: bool = True, dpi: float = DPI) -> None:
    """Save and close ``fig``; ``rect``: the part of it the axes fill (a legend beside);
    ``tight`` False for a figure laid out already (constrained, with a colorbar)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    if tight:
        fig.tight_layout(rect=rect)
    metadata = {"advtail:min_font_px": f"{smallest_text_px(fig, dpi):.2f}"}
    fig.savefig(path, dpi=dpi, metadata=metadata)
    width, height = (round(v * dpi) for v in fig.get_size_inches())
    logging.getLogger(__name__).info("%s: %d x %d px", path, width, height)
    plt.close(fig)
