"""Claims as computed outputs: a paper's headline comparison, paired by seed, over seeds.

A claim (config section ``claims``) names a results table, a column, a treatment and a
control (method names, or a constant for the control), the better direction and
optionally a premise: a measured quantity that must meet a bound for the comparison to be
testable at all. :func:`claim_row` turns the table's rows into one row of
``claims.csv``: the paired improvement of the treatment over the control per seed, its
mean, sd and 95% t interval, the seeds where it held, a one-sided sign test and a verdict
(:data:`VERDICTS`, decided by :func:`verdict`).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

from advtail.workflow.catalog import claim_premises

HOLDS, FAILS, MIXED = "holds", "fails", "mixed"
PREMISE_NOT_MET = "premise not met"
ONE_SEED = "one seed: not evidence"
VERDICTS = (HOLDS, FAILS, MIXED, PREMISE_NOT_MET, ONE_SEED)
# share of the seeds (pairs) in which a claim must hold (at most fail) for "holds"
# ("fails"); in between it is "mixed". With 3 seeds: 3 of 3 holds, 0 of 3 fails.
HOLD_SHARE = 0.8
INTERVAL = "95% t interval of the mean paired improvement"


class ClaimError(ValueError):
    """A claim that cannot be computed from its table (names the claim and the key)."""

    def __init__(self, claim_id: str, message: str):
        self.claim = claim_id
        super().__init__(message)


def _require_column(table: pd.DataFrame, column: str, claim_id: str, key: str) -> None:
    if column not in table.columns:
        raise ClaimError(
            claim_id,
            f"claims.{claim_id}.{key}: the table has no column '{column}' "
            f"(it has {', '.join(table.columns)})",
        )


def select_rows(table: pd.DataFrame, where: dict, claim_id: str, key: str) -> pd.DataFrame:
    """The rows of ``table`` whose columns equal every value of ``where``."""
    rows = table
    for column, value in (where or {}).items():
        if column not in table.columns:
            raise ClaimError(
                claim_id,
                f"claims.{claim_id}.{key}: the table has no column '{column}' "
                f"(it has {', '.join(table.columns)})",
            )
        rows = rows[rows[column].astype(str) == str(value)]
    return rows


def _values_by_pair(rows: pd.DataFrame, column: str, pair_by: list, claim_id: str, side: str):
    keys = ["seed", *pair_by]
    duplicated = rows.duplicated(keys, keep=False)
    if duplicated.any():
        raise ClaimError(
            claim_id,
            f"claims.{claim_id}: the {side} has {int(duplicated.sum())} rows for the same "
            f"{' and '.join(keys)}; narrow them with 'where' or pair them with 'pair_by'",
        )
    return rows.set_index(keys)[column].astype(float)


def improvement(treatment, control, better: str):
    """The treatment's improvement over the control: positive where it is better."""
    return treatment - control if better == "higher" else control - treatment


def paired_improvements(table: pd.DataFrame, claim_id: str, claim: dict) -> pd.DataFrame:
    """One row per seed (and ``pair_by`` key) with both sides: columns ``treatment``,
    ``control``, ``improvement`` and ``held`` (the improvement exceeds minus the
    tolerance times the control's magnitude)."""
    column = claim["column"]
    _require_column(table, column, claim_id, "column")
    pair_by = list(claim.get("pair_by") or [])
    for name in pair_by:
        _require_column(table, name, claim_id, "pair_by")
    where = claim.get("where") or {}
    rows = select_rows(table, where, claim_id, "where")
    treated = _values_by_pair(
        select_rows(rows, {"method": claim["treatment"]}, claim_id, "treatment"),
        column,
        pair_by,
        claim_id,
        "treatment",
    )
    control = claim["control"]
    if isinstance(control, str):
        controls = _values_by_pair(
            select_rows(rows, {"method": control}, claim_id, "control"),
            column,
            pair_by,
            claim_id,
            "control",
        )
        treated, controls = treated.align(controls, join="inner")
    else:  # a constant: chance level, a threshold
        controls = pd.Series(float(control), index=treated.index)
    pairs = pd.DataFrame({"treatment": treated, "control": controls}).dropna()
    pairs["improvement"] = improvement(pairs["treatment"], pairs["control"], claim["better"])
    slack = float(claim.get("tolerance", 0.0)) * pairs["control"].abs()
    pairs["held"] = pairs["improvement"] > -slack
    return pairs.sort_index()


def t_interval(values, level: float = 0.95) -> tuple[float, float]:
    """Two-sided ``level`` t interval of the mean (nan for fewer than 2 values)."""
    values = np.asarray(values, dtype=float)
    if len(values) < 2:
        return math.nan, math.nan
    half = stats.t.ppf(0.5 + level / 2, len(values) - 1) * values.std(ddof=1)
    half /= math.sqrt(len(values))
    return float(values.mean() - half), float(values.mean() + half)


def sign_test(held: int, n: int) -> float:
    """One-sided sign test: P(at least ``held`` of ``n`` pairs hold | each holds w.p. 1/2)."""
    if n == 0:
        return math.nan
    return float(stats.binomtest(held, n, 0.5, alternative="greater").pvalue)


def premise_value(table: pd.DataFrame, claim_id: str, claim: dict, premise: dict) -> float:
    """The mean over seeds of one premise's column in its rows (its method's: by default
    the control's)."""
    column = premise["column"]
    _require_column(table, column, claim_id, "premise.column")
    where = dict(premise.get("where") or {})
    method = premise.get("method", claim["control"] if isinstance(claim["control"], str) else None)
    if method is not None:
        where["method"] = method
    values = select_rows(table, where, claim_id, "premise.where")[column].astype(float).dropna()
    if values.empty:
        raise ClaimError(
            claim_id, f"claims.{claim_id}.premise: no rows of the table match it ({where})"
        )
    return float(values.mean())


def premise_met(value: float, premise: dict) -> bool:
    """Whether ``value`` meets the premise's bounds (``at_least``, ``at_most``)."""
    if "at_least" in premise and not value >= premise["at_least"]:
        return False
    return not ("at_most" in premise and not value <= premise["at_most"])


def verdict(n_seeds: int, held: int, n_pairs: int, met: bool) -> str:
    """The claim's verdict: premise first, then the seed count, then the share held."""
    if not met:
        return PREMISE_NOT_MET
    if n_seeds < 2:
        return ONE_SEED
    if held >= HOLD_SHARE * n_pairs:
        return HOLDS
    if held <= (1 - HOLD_SHARE) * n_pairs:
        return FAILS
    return MIXED


def _condition(premise: dict) -> str:
    bounds = [
        f"{sign} {premise[key]}"
        for key, sign in (("at_least", ">="), ("at_most", "<="))
        if key in premise
    ]
    method = f" of {premise['method']}" if "method" in premise else ""
    return f"{premise['column']}{method} {' and '.join(bounds)}"


def _datasets(table: pd.DataFrame, claim_id: str, claim: dict) -> str:
    """The data sets of the rows the claim compares (';'-joined; empty: no such column)."""
    if "dataset" not in table.columns:
        return ""
    rows = select_rows(table, claim.get("where") or {}, claim_id, "where")
    rows = rows[rows["method"].isin([claim["treatment"], claim["control"]])]
    return ";".join(sorted(rows["dataset"].astype(str).unique()))


def claim_row(table: pd.DataFrame, claim_id: str, claim: dict, tables: dict | None = None) -> dict:
    """The ``claims.csv`` row of one claim, computed from its table's rows (premises on
    other tables from ``tables``: name -> table)."""
    pairs = paired_improvements(table, claim_id, claim)
    if pairs.empty:
        raise ClaimError(
            claim_id,
            f"claims.{claim_id}: no seed has both {claim['treatment']} and "
            f"{claim['control']} in the table (after 'where')",
        )
    seeds = sorted({int(key[0] if isinstance(key, tuple) else key) for key in pairs.index})
    held_seeds = sorted(
        {int(key[0] if isinstance(key, tuple) else key) for key in pairs.index[pairs["held"]]}
    )
    diffs = pairs["improvement"].to_numpy()
    conditions = claim_premises(claim)
    values = [
        premise_value((tables or {}).get(c.get("table"), table), claim_id, claim, c)
        for c in conditions
    ]
    met = all(premise_met(v, c) for v, c in zip(values, conditions, strict=True))
    low, high = t_interval(diffs)
    held = int(pairs["held"].sum())
    return {
        "claim": claim_id,
        "paper": claim["paper"],
        "statement": claim["statement"],
        "dataset": _datasets(table, claim_id, claim),
        "table": claim["table"],
        "column": claim["column"],
        "treatment": claim["treatment"],
        "control": claim["control"],
        "better": claim["better"],
        "n_seeds": len(seeds),
        "n_pairs": len(pairs),
        "seeds": " ".join(map(str, seeds)),
        "held": held,
        "held_seeds": " ".join(map(str, held_seeds)),
        "treatment_mean": float(pairs["treatment"].mean()),
        "control_mean": float(pairs["control"].mean()),
        "improvement_mean": float(diffs.mean()),
        "improvement_sd": float(diffs.std(ddof=1)) if len(diffs) > 1 else math.nan,
        "ci_low": low,
        "ci_high": high,
        "interval": INTERVAL,
        "sign_test_p": sign_test(held, len(pairs)),
        "premise": "; ".join(_condition(c) for c in conditions),
        "premise_value": "; ".join(f"{v:.4g}" for v in values),
        "premise_met": met,
        "verdict": verdict(len(seeds), held, len(pairs), met),
    }


def claims_table(
    tables: dict[str, pd.DataFrame], claims: dict, experiment: str
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``claims.csv`` (one row per claim, in the order of ``claims``) and its pairs (one row per
    claim and seed: both sides, the improvement, whether it held); ``tables``: name -> the
    results table of that name."""
    rows, pairs = [], []
    for claim_id, claim in claims.items():
        table = tables[claim["table"]]
        rows.append({"experiment": experiment, **claim_row(table, claim_id, claim, tables)})
        claim_pairs = paired_improvements(table, claim_id, claim).reset_index()
        pairs.append(claim_pairs.assign(experiment=experiment, claim=claim_id))
    first = ["experiment", "claim", "seed"]
    if not rows:
        return pd.DataFrame(), pd.DataFrame(columns=first)
    pairs = pd.concat(pairs, ignore_index=True)
    return pd.DataFrame(rows), pairs[first + [c for c in pairs.columns if c not in first]]
