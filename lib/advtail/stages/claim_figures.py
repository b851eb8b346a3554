"""Rule figure_claims: the claims' forest plot from claims.csv and its pairs."""

from __future__ import annotations

import logging
from pathlib import Path

from advtail.plots.claims import plot_claims
from advtail.stages.tables import read_table

log = logging.getLogger(__name__)


def claims_figure(claims_csv, pairs_csv, out_png) -> dict:
    """The forest plot of ``claims.csv`` with the per-seed points of its pairs."""
    info = plot_claims(read_table(claims_csv), read_table(pairs_csv), out_png)
    log.info("%s: %d claims", Path(out_png).name, info["claims"])
    return info
