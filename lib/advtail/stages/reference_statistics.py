"""Reference-statistics files: a real split's feature mean and covariance, cached as
``.npz`` (``mu``, ``sigma``, and ``meta``: the backbone and what they came from)."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np

from advtail.data.arrays import write_npz
from advtail.errors import DataFileError


def save_reference_statistics(path, mu, sigma, **meta) -> None:
    """Mean and covariance of a real split's features, with what they were computed from."""
    mu, sigma = np.asarray(mu, dtype=np.float64), np.asarray(sigma, dtype=np.float64)
    write_npz(path, {"mu": mu, "sigma": sigma, "meta": np.array(json.dumps(meta, sort_keys=True))})


def load_reference_statistics(path, backbone: str | None = None):
    """(mu, sigma, meta) of a reference-statistics file; clear errors for bad files."""
    path = Path(path)
    if not path.is_file():
        raise DataFileError(
            path,
            "reference statistics not found; the fid_reference_stats rule writes them "
            f"(snakemake --cores all {path})",
        )
    try:
        with np.load(path, allow_pickle=False) as data:
            mu, sigma = data["mu"], data["sigma"]
            meta = json.loads(str(data["meta"].reshape(-1)[0]))  # stored as a 1-element array
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as err:
        raise DataFileError(
            path, f"not a reference-statistics file (mu, sigma, meta): {err}"
        ) from None
    if mu.ndim != 1 or sigma.shape != (len(mu), len(mu)):
        raise DataFileError(
            path, f"mu of shape {mu.shape} and sigma of shape {sigma.shape} do not match"
        )
    if backbone is not None and meta.get("backbone") != backbone:
        raise DataFileError(
            path, f"statistics of backbone {meta.get('backbone')!r}, expected {backbone!r}"
        )
    return mu, sigma, meta
