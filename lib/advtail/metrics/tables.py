"""Tables (pandas) of per-run metrics: rows per run, aggregates per method over seeds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from advtail.data.profiles import class_groups
from advtail.metrics.generation import counts_kl_to_uniform


def replicate_of(name: str, replicates: dict | None) -> dict:
    """``{"method", "seed"}`` of a configured entry (itself, seed unknown, if unlisted)."""
    return (replicates or {}).get(name, {"method": name, "seed": None})


def summarize_by_method(table: pd.DataFrame, by=("dataset", "subset", "method")) -> pd.DataFrame:
    """Aggregate the per-seed rows of ``table``: per method, every numeric column's mean
    and sample standard deviation (``<column>_mean``, ``<column>_sd``; the sd is empty for
    a single seed), the number of seeds and the seeds themselves."""
    by = [c for c in by if c in table.columns]
    numeric = [
        c
        for c in table.select_dtypes("number").columns
        if c not in set(by) | {"seed"} and table[c].notna().any()
    ]
    rows = []
    for key, group in table.groupby(by, sort=True, dropna=False):
        row = dict(zip(by, key if isinstance(key, tuple) else (key,), strict=True))
        row["n_seeds"] = len(group)
        row["seeds"] = " ".join(str(s) for s in sorted(group["seed"].dropna().astype(int)))
        for column in numeric:
            values = group[column].astype(float)
            row[f"{column}_mean"] = values.mean()
            row[f"{column}_sd"] = values.std(ddof=1) if values.count() > 1 else float("nan")
        for column in table.columns:  # constant text columns (backbone, loss, ...) stay
            if column not in numeric and column not in row and column != "seed":
                values = group[column].dropna().unique()
                if len(values) == 1 and not isinstance(values[0], int | float):
                    row[column] = values[0]
        rows.append(row)
    return pd.DataFrame(rows)


def summary_path(out_csv: str | Path) -> Path:
    """``tables/x.csv`` -> ``tables/x_summary.csv``: the per-method aggregate beside it."""
    out_csv = Path(out_csv)
    return out_csv.with_name(f"{out_csv.stem}_summary.csv")


def imbalance_ratio(subset: str, subsets: dict) -> float:
    """n_max / n_min of a configured subset: its ratio, 1 for balanced profiles."""
    cfg = subsets.get(subset, {})
    if "imbalance_ratio" in cfg:
        return float(cfg["imbalance_ratio"])
    base = cfg.get("base")
    if base:
        return imbalance_ratio(base, subsets)
    return 1.0


GAN_COLUMNS = (
    "dataset",
    "subset",
    "gan",
    "fid",
    "fid_backbone",
    "inception_score",
    "kl_uniform",
    "fid_annotator",
    "is_annotator",
    "fid_inception",
    "is_inception",
    "label_agreement",
    "num_samples",
)

INCEPTION_ONLY = {"fid_inception", "is_inception"}
# Keys each row needs from the files it is made of (stages.tables checks them on read).
CLASSIFIER_METRICS_KEYS = (
    "classifier",
    "accuracy",
    "balanced_accuracy",
    "group_accuracy",
    "class_names",
    "per_class_accuracy",
)
GAN_METRICS_KEYS = ("gan", "fid", "kl_uniform", "class_names", "class_shares")
GAN_META_KEYS = ("selected", "wall_time_s")
CAS_METRICS_KEYS = ("gan", "cas_accuracy")


def classifier_row(m: dict, experiment: str = "", replicates: dict | None = None) -> dict:
    """One classifier's row: overall, balanced, head/body/tail and per-class accuracy."""
    row = {"experiment": experiment}
    row |= {key: m.get(key) for key in ("dataset", "subset", "classifier")}
    row |= replicate_of(m.get("classifier"), replicates)
    row |= {
        key: m.get(key)
        for key in (
            "role",
            "arch",
            "loss",
            "reweighting",
            "selected_epoch",
            "num_test",
            "accuracy",
            "balanced_accuracy",
        )
    }
    row.update({f"{g}_accuracy": a for g, a in m["group_accuracy"].items()})
    row.update(
        {
            f"acc_{name}": a
            for name, a in zip(m["class_names"], m["per_class_accuracy"], strict=True)
        }
    )
    return row


def gan_row(
    m: dict,
    meta: dict,
    cas: dict | None = None,
    experiment: str = "",
    subsets: dict | None = None,
    replicates: dict | None = None,
) -> dict:
    """One GAN's row: FID (and its backbone), IS, KL to uniform, CAS, shares, wall time.

    ``m``: its sample metrics; ``meta``: its training meta; ``cas``: its CAS metrics.
    """
    row = {"experiment": experiment}
    # Inception columns only where Inception weights were there
    columns = [key for key in GAN_COLUMNS if key in m or key not in INCEPTION_ONLY]
    row |= {key: m.get(key) for key in columns[:3]}  # dataset, subset, gan
    row |= replicate_of(m.get("gan"), replicates)
    row |= {key: m.get(key) for key in columns[3:]}
    row["imbalance_ratio"] = imbalance_ratio(m.get("subset"), subsets or {})
    row["cas_accuracy"] = (cas or {}).get("cas_accuracy")
    row["selected_step"] = meta.get("selected")
    row["train_wall_time_s"] = meta.get("wall_time_s")
    row |= {
        f"share_{name}": share
        for name, share in zip(m["class_names"], m["class_shares"], strict=True)
    }
    return row


ROBUSTNESS_KEYS = ("classifier", "threat", "norm", "eps", "eps_label", "class_names", "attacks")
ROBUSTNESS_SETTINGS = (
    "steps",
    "step_size",
    "random_start",
    "restarts",
    "loss",
    "overshoot",
    "max_iter",
    "version",
    "ensemble",
    "apgd_iterations",
    "apgd_restarts",
    "square_queries",
)


def robustness_rows(m: dict, experiment: str = "", replicates: dict | None = None) -> list[dict]:
    """One row per attack of a classifier's threat-model file (and its worst case):
    robust accuracy overall, balanced, per group and per class, where the adversarial
    examples land (``pred_<class>``), what ran and on how many images."""
    rows = []
    for attack, a in m["attacks"].items():
        row = {"experiment": experiment}
        row |= {key: m.get(key) for key in ("dataset", "subset", "classifier")}
        row |= replicate_of(m.get("classifier"), replicates)
        row |= {key: m.get(key) for key in ("threat", "norm", "eps", "eps_label")}
        row |= {
            "attack": attack,
            "library": a.get("library", ""),
            "num_attacked": a.get("num_attacked"),
            "accuracy": a["accuracy"],
            "balanced_accuracy": a["balanced_accuracy"],
        }
        row.update({f"{g}_accuracy": v for g, v in a["group_accuracy"].items()})
        row["wall_time_s"] = a.get("wall_time_s")
        row["settings"] = " ".join(
            f"{key}={a[key]}" for key in ROBUSTNESS_SETTINGS if key in a
        ) or ("worst case over " + ", ".join(a["over"]) if "over" in a else "")
        row["note"] = a.get("note", "")
        # AutoAttack's checks of the model: why its evaluation may not be trusted
        row["flags"] = a.get("flags", "")
        names = m["class_names"]
        row.update({f"acc_{n}": v for n, v in zip(names, a["per_class_accuracy"], strict=True)})
        for key, prefix in (("predicted_counts", "pred"), ("true_counts", "true")):
            if key in a:
                row.update({f"{prefix}_{n}": v for n, v in zip(names, a[key], strict=True)})
        rows.append(row)
    return rows


ADVERSARIAL_PREDICTED = "adversarial_predicted_"


def adversarial_training_columns(log: pd.DataFrame, train_counts) -> dict:
    """What an adversarially trained classifier's ``log.csv`` says of its training: the
    KL to uniform and the tail share of the classes its training adversarial examples
    were predicted as, in the first and the last epoch (REAT Fig. 1). Empty for a log
    without adversarial counts (standard training)."""
    columns = [c for c in log.columns if c.startswith(ADVERSARIAL_PREDICTED)]
    if not columns or log.empty:
        return {}
    counts = log[columns].to_numpy(dtype=float)
    groups = class_groups(np.asarray(train_counts))
    label_head_share = np.asarray(train_counts, dtype=float)[groups == "head"].sum() / max(
        float(np.sum(train_counts)), 1.0
    )
    row = {}
    for when, epoch in (("first", 0), ("last", -1)):
        total = max(counts[epoch].sum(), 1.0)
        row[f"train_adversarial_kl_{when}"] = counts_kl_to_uniform(counts[epoch])
        row[f"train_adversarial_tail_share_{when}"] = counts[epoch][groups == "tail"].sum() / total
        # the premise of REAT: training adversarial examples often misclassified, and
        # their predictions leaning to the head beyond the head's share of the labels
        row[f"train_adversarial_head_excess_{when}"] = (
            counts[epoch][groups == "head"].sum() / total - label_head_share
        )
        if "train_accuracy" in log.columns:  # on the adversarial batches
            row[f"train_adversarial_accuracy_{when}"] = float(log["train_accuracy"].iloc[epoch])
    return row


def adversarial_training_rows(
    robustness: dict, log: pd.DataFrame | None, experiment: str = "", replicates=None
) -> list[dict]:
    """A classifier's rows of the adversarial training table: per attack of its
    robustness file, robust accuracy overall, balanced and per group, the KL to uniform
    of the classes the test adversarial examples are predicted as, and the training
    columns of :func:`adversarial_training_columns` (``log`` None: standard training)."""
    training = {} if log is None else adversarial_training_columns(log, robustness["train_counts"])
    rows = []
    attacks = robustness["attacks"].values()
    for row, a in zip(robustness_rows(robustness, experiment, replicates), attacks, strict=True):
        kept = {key: row[key] for key in ADVERSARIAL_TABLE_KEYS if key in row}
        kept["training"] = "adversarial" if training else "standard"
        if "predicted_counts" in a:
            kept["test_prediction_kl"] = counts_kl_to_uniform(a["predicted_counts"])
        rows.append(kept | training)
    return rows


ADVERSARIAL_TABLE_KEYS = (
    "experiment",
    "dataset",
    "subset",
    "classifier",
    "method",
    "seed",
    "threat",
    "eps_label",
    "attack",
    "num_attacked",
    "accuracy",
    "balanced_accuracy",
    "head_accuracy",
    "body_accuracy",
    "tail_accuracy",
)


def robust_gan_row(
    log: pd.DataFrame, meta: dict, experiment: str = "", replicates: dict | None = None
) -> dict:
    """One GAN's cost and quality from its ``log.csv`` and ``meta.json``: discriminator
    passes (forward, backward) and seconds per generator step (training alone), the
    training wall time, and the best and last validation FID with their steps (the
    robust GANs' comparison: Fast-RobGAN thesis, Sec. 5)."""
    name = meta["gan"]
    cfg = meta["config"]
    fid = next((c for c in log.columns if c.startswith("val_fid")), None)
    validated = log.dropna(subset=[fid]) if fid else log.iloc[0:0]
    best = validated.loc[validated[fid].idxmin()] if len(validated) else None
    last = validated.iloc[-1] if len(validated) else None
    return {
        "experiment": experiment,
        **replicate_of(name, replicates),
        "gan": name,
        "robust": (cfg.get("robust") or {}).get("attack", "none"),
        "class_loss": (cfg.get("class_loss") or {}).get("name", "ac"),
        "steps": int(meta["done"]),
        "d_forward_per_step": float(log["d_forward"].mean()),
        "d_backward_per_step": float(log["d_backward"].mean()),
        "seconds_per_step": float(log["step_seconds"].mean()),
        "wall_time_s": float(meta["wall_time_s"]),
        "fid_column": fid,
        "best_val_fid": None if best is None else float(best[fid]),
        "best_step": None if best is None else int(best["step"]),
        "last_val_fid": None if last is None else float(last[fid]),
    }


def add_seconds_to_common_fid(rows: list[dict], logs: list[pd.DataFrame]) -> list[dict]:
    """Fast-RobGAN's wall-time claim (thesis Fig. 5.1: a given validation FID reached
    sooner): per seed, the common FID is the worst of the GANs' best validation FIDs, the
    lowest that every GAN of that seed reached, and each GAN's ``seconds_to_common_fid`` is
    its training seconds (the log's ``seconds``) at its first validation at or below it.
    A seed with one GAN, or a GAN never validated, gets no common FID."""
    by_seed: dict = {}
    for row, log in zip(rows, logs, strict=True):
        by_seed.setdefault(row.get("seed"), []).append((row, log))
    for runs in by_seed.values():
        bests = [row["best_val_fid"] for row, _ in runs]
        common = max(bests) if len(runs) > 1 and None not in bests else None
        for row, log in runs:
            row["common_val_fid"] = common
            row["seconds_to_common_fid"] = None
            if common is None:
                continue
            reached = log[log[row["fid_column"]] <= common]
            row["seconds_to_common_fid"] = float(reached["seconds"].iloc[0])
    return rows
