"""What every figure shares: the Agg backend, a colour-blind-safe palette, error bars
over seeds and saving."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

# Okabe & Ito's colour-blind-safe palette, for every series of the figures
OKABE_ITO = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"]
plt.rcParams["axes.prop_cycle"] = plt.cycler(color=OKABE_ITO)


def error_bars(sd):
    """Error-bar lengths: the standard deviation over seeds, none for a single seed."""
    return np.nan_to_num(np.asarray(sd, dtype=float), nan=0.0)


def save_figure(fig, path, rect=None, tight: bool = True) -> None:
    """Save and close ``fig``; ``rect``: the part of it the axes fill (a legend beside);
    ``tight`` False for a figure laid out already (constrained, with a colorbar)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    if tight:
        fig.tight_layout(rect=rect)
    fig.savefig(path, dpi=120)
    plt.close(fig)
