"""Rule make_subset: one subset of a dataset's train split, its counts table and chart."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from advtail.data.arrays import load_image_set, save_image_set
from advtail.data.profiles import imbalance_ratio_of
from advtail.data.subsets import build_subset, counts_table
from advtail.plots.counts import plot_class_counts

log = logging.getLogger(__name__)


def make_subset(
    name: str,
    subsets: dict,
    train_path: str | Path,
    out_npz: str | Path,
    out_csv: str | Path,
    out_png: str | Path,
) -> pd.DataFrame:
    """Build subset ``name`` from the train split file and write npz, counts.csv and counts.png."""
    train = load_image_set(train_path)
    subset = build_subset(name, subsets, train)
    table = counts_table(subset, train.labels)
    sidecar = save_image_set(
        out_npz, subset, imbalance_ratio=imbalance_ratio_of(table["count"].to_numpy())
    )
    Path(out_csv).parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(out_csv, index=False)
    title = (
        f"{sidecar['dataset']} / {name} ({subsets[name]['profile']}, {len(subset.labels)} images)"
    )
    plot_class_counts(table, title, out_png)
    log.info("%s: counts %s", name, table["count"].tolist())
    return table
