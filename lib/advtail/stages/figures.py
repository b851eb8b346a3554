"""Rules of results/figures/*.png: each figure of the GAN experiments from its files."""

from __future__ import annotations

import pandas as pd

from advtail.data.arrays import load_image_set
from advtail.errors import DataFileError
from advtail.plots.gans import plot_class_distribution, plot_fid_kl, plot_validation_curves
from advtail.plots.grids import plot_sample_grids
from advtail.stages.tables import read_metrics, read_table


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


def figure_from_files(
    name: str, inputs: dict, out_png, labels: dict | None = None, replicates: dict | None = None
) -> None:
    """Draw figure ``name`` of the workflow from its input files (see the rules).

    ``labels``: for inputs that are lists of files (one per GAN or subset), the name of
    each file, in order; those inputs become ``{name: path}``. ``replicates``: GAN name
    -> ``{"method", "seed"}`` (seeded GANs are drawn per method, over their seeds).
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
        methods = {gan: r["method"] for gan, r in (replicates or {}).items()}
        kept = {
            gan: read_metrics(path, ("selected",))["selected"]
            for gan, path in inputs["meta"].items()
        }
        plot_validation_curves(logs, out_png, methods, kept)
    elif name == "sample_grids":
        # one grid per method: its lowest seed
        first = {}
        for gan in sorted(
            inputs["samples"], key=lambda g: (replicates or {}).get(g, {}).get("seed") or 0
        ):
            first.setdefault(
                (replicates or {}).get(gan, {}).get("method", gan), inputs["samples"][gan]
            )
        sets = {}
        for method, path in first.items():
            samples = load_image_set(path)
            sets[method] = (samples.images, samples.labels, samples.class_names)
        plot_sample_grids(sets, out_png)
    else:
        raise ValueError(f"unknown figure {name!r}")
