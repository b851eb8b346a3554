"""Rules of the tables (classifiers, GANs, robustness, adversarial training, robust
GANs): per-run metrics files gathered into CSV tables, and per-method aggregates over
seeds beside them (``*_summary.csv``)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pandas as pd

from advtail.data.arrays import write_json
from advtail.errors import DataFileError
from advtail.metrics.model_cards import card_row, model_card
from advtail.metrics.tables import (
    CAS_METRICS_KEYS,
    CLASSIFIER_METRICS_KEYS,
    GAN_META_KEYS,
    GAN_METRICS_KEYS,
    ROBUSTNESS_KEYS,
    add_seconds_to_common_fid,
    adversarial_training_rows,
    classifier_row,
    gan_row,
    robust_gan_row,
    robustness_rows,
    summarize_by_method,
)

log = logging.getLogger(__name__)


def read_metrics(path: str | Path, required=()) -> dict:
    """A JSON metrics (or meta) file holding at least the keys ``required``."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise DataFileError(path, f"not a readable metrics file ({err})") from None
    if not isinstance(data, dict):
        raise DataFileError(path, f"expected a JSON object, found {type(data).__name__}")
    missing = [key for key in required if key not in data]
    if missing:
        raise DataFileError(
            path,
            f"lacks the key{'s' if len(missing) > 1 else ''} {', '.join(missing)} (written by "
            "another version of advtail, or edited); delete it and Snakemake rebuilds it",
        )
    return data


def read_table(path) -> pd.DataFrame:
    try:
        return pd.read_csv(path)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise DataFileError(path, f"not a readable CSV table ({err})") from None


def read_log(path, required=()) -> pd.DataFrame:
    """A training ``log.csv`` with at least the columns ``required`` and one row (every
    finished training logs its steps or epochs)."""
    log = read_table(path)
    missing = [c for c in required if c not in log.columns]
    if missing:
        raise DataFileError(
            path,
            f"lacks the column{'s' if len(missing) > 1 else ''} {', '.join(missing)} (written "
            "by another version of advtail); delete it and Snakemake retrains",
        )
    if required and (log.empty or log[list(required)].dropna(how="all").empty):
        raise DataFileError(
            path, "has no logged rows (cut short?); delete it and Snakemake retrains"
        )
    return log


def write_table(rows, out_csv: str | Path) -> pd.DataFrame:
    table = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(rows)
    Path(out_csv).parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(out_csv, index=False, float_format="%.4f")
    log.info("%s: %d rows, %d columns", out_csv, len(table), len(table.columns))
    return table


def _write_with_summary(rows, out_csv, out_summary, by=None) -> pd.DataFrame:
    table = write_table(rows, out_csv)
    if out_summary is not None:
        summary = summarize_by_method(table, **({"by": by} if by else {}))
        write_table(summary, out_summary)
    return table


def classifier_table(
    metrics_paths,
    out_csv: str | Path,
    experiment: str = "",
    replicates: dict | None = None,
    out_summary: str | Path | None = None,
) -> pd.DataFrame:
    """One row per classifier (:func:`advtail.metrics.tables.classifier_row`).

    ``experiment`` (the config's name) fills the first column, so a table says which
    config it was gathered for. ``replicates`` (:func:`advtail.config.expand_seeds`)
    gives each row its method and seed; ``out_summary`` receives the per-method mean,
    standard deviation and seed count (:func:`summarize_by_method`).
    """
    rows = [
        classifier_row(read_metrics(p, CLASSIFIER_METRICS_KEYS), experiment, replicates)
        for p in metrics_paths
    ]
    return _write_with_summary(rows, out_csv, out_summary)


def gan_table(
    metrics_paths,
    meta_paths,
    out_csv: str | Path,
    experiment: str = "",
    cas_paths=(),
    subsets: dict | None = None,
    replicates: dict | None = None,
    out_summary: str | Path | None = None,
) -> pd.DataFrame:
    """One row per GAN (:func:`advtail.metrics.tables.gan_row`).

    ``cas_paths``: the CAS metrics of the GANs that have one (matched by GAN name);
    ``subsets``: the config's subsets, for each row's imbalance ratio; ``replicates``
    and ``out_summary`` as for :func:`classifier_table`.
    """
    cas = {}
    for path in cas_paths:
        m = read_metrics(path, CAS_METRICS_KEYS)
        cas[m["gan"]] = m
    rows = []
    for metrics_path, meta_path in zip(metrics_paths, meta_paths, strict=True):
        m = read_metrics(metrics_path, GAN_METRICS_KEYS)
        meta = read_metrics(meta_path, GAN_META_KEYS)
        rows.append(gan_row(m, meta, cas.get(m.get("gan")), experiment, subsets, replicates))
    return _write_with_summary(rows, out_csv, out_summary)


def robustness_table(
    metrics_paths,
    out_csv: str | Path,
    experiment: str = "",
    replicates: dict | None = None,
    out_summary: str | Path | None = None,
    recipes: dict | None = None,
    out_cards: str | Path | None = None,
    out_cards_table: str | Path | None = None,
) -> pd.DataFrame:
    """One row per classifier, threat and attack
    (:func:`advtail.metrics.tables.robustness_rows`); ``replicates`` and ``out_summary``
    as for :func:`classifier_table`, the summary per method, threat and attack. With
    ``out_cards``, a model card in RobustBench's format per classifier and threat
    (:func:`advtail.metrics.model_cards.model_card`, ``recipes``: the classifiers'
    config entries) in that folder, ``<classifier>_<threat>.json``, and the table of all
    cards in ``out_cards_table``."""
    files = [read_metrics(path, ROBUSTNESS_KEYS) for path in metrics_paths]
    rows = [row for metrics in files for row in robustness_rows(metrics, experiment, replicates)]
    if out_cards is not None:
        cards = [model_card(m, (recipes or {}).get(m["classifier"], {})) for m in files]
        Path(out_cards).mkdir(parents=True, exist_ok=True)
        for card in cards:
            write_json(Path(out_cards) / f"{card['name']}_{card['advtail']['threat']}.json", card)
        write_table([card_row(card) for card in cards], out_cards_table)
    if rows:  # by budget, then model; each model's attacks in the config's order
        rows = pd.DataFrame(rows).sort_values(["norm", "eps", "classifier"], kind="stable")
    by = ("dataset", "subset", "method", "threat", "attack")
    return _write_with_summary(rows, out_csv, out_summary, by)


def adversarial_training_table(
    robustness_paths,
    log_paths,
    out_csv: str | Path,
    experiment: str = "",
    replicates: dict | None = None,
    out_summary: str | Path | None = None,
) -> pd.DataFrame:
    """One row per classifier and attack of the threat that evaluates the adversarially
    trained classifiers (:func:`advtail.metrics.tables.adversarial_training_rows`): robust
    accuracy by group, where adversarial examples land, and from each adversarially
    trained classifier's ``log.csv`` (``log_paths``, in its classifier folder) where its
    training adversarial examples were predicted. The summary is per method and attack."""
    logs = {Path(path).parent.name: path for path in log_paths}
    rows = []
    for path in robustness_paths:
        metrics = read_metrics(path, (*ROBUSTNESS_KEYS, "train_counts"))
        name = metrics["classifier"]
        log = read_table(logs[name]) if name in logs else None
        rows += adversarial_training_rows(metrics, log, experiment, replicates)
    by = ("dataset", "subset", "method", "training", "threat", "attack")
    return _write_with_summary(rows, out_csv, out_summary, by)


ROBUST_GAN_LOG_COLUMNS = ("step", "seconds", "d_forward", "d_backward", "step_seconds")


def robust_gan_table(
    log_paths,
    meta_paths,
    out_csv,
    experiment: str = "",
    replicates: dict | None = None,
    out_summary=None,
) -> pd.DataFrame:
    """``robust_gans.csv``: a row per GAN with a class head (AC-GAN, Rob-GAN, Fast-RobGAN)
    from its log and meta (:func:`advtail.metrics.tables.robust_gan_row`); the summary
    per method."""
    rows, logs = [], []
    for log_path, meta_path in zip(log_paths, meta_paths, strict=True):
        logs.append(read_log(log_path, ROBUST_GAN_LOG_COLUMNS))
        rows.append(
            robust_gan_row(
                logs[-1], read_metrics(meta_path, ("gan", "config", "done")), experiment, replicates
            )
        )
    return _write_with_summary(add_seconds_to_common_fid(rows, logs), out_csv, out_summary)
