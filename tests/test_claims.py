"""Claims computed from results tables: pairing by seed, the interval, the sign test and
each verdict, on small hand-made tables; a claim the config cannot make stops start-up."""

from __future__ import annotations

import copy
import math

import pandas as pd
import pytest
from advtail.config import load_yaml, validate_config
from advtail.errors import ConfigError
from advtail.metrics.claims import (
    FAILS,
    HOLDS,
    MIXED,
    ONE_SEED,
    PREMISE_NOT_MET,
    ClaimError,
    claims_table,
    sign_test,
    t_interval,
)
from advtail.plots.claims import plot_claims
from conftest import DEFAULT_CONFIG, SCHEMA


def gan_table(kl_cb, kl_plain, fid_cb=None, fid_plain=None) -> pd.DataFrame:
    """A gan_metrics table: one row per method and seed (seeds 0, 1, ...)."""
    rows = []
    for method, kls, fids in (("cb", kl_cb, fid_cb), ("plain", kl_plain, fid_plain)):
        for seed, kl in enumerate(kls):
            fid = fids[seed] if fids else 10.0
            rows.append(
                {"dataset": "digits", "method": method, "seed": seed, "kl_uniform": kl, "fid": fid}
            )
    return pd.DataFrame(rows)


CLAIM = {
    "paper": "CBGAN Table 1",
    "statement": "the regularizer lowers KL",
    "table": "gan_metrics",
    "column": "kl_uniform",
    "treatment": "cb",
    "control": "plain",
    "better": "lower",
}


def one_claim(table, **changes):
    claim = {**CLAIM, **changes}
    rows, pairs = claims_table({"gan_metrics": table}, {"c": claim}, "x")
    return rows.iloc[0], pairs


def test_pairs_by_seed_and_counts_where_the_claim_held():
    # seed 2 has no control: it is not a pair
    table = gan_table([0.1, 0.5, 0.2, 0.05], [0.3, 0.4, 0.6])
    row, pairs = one_claim(table)
    assert pairs["seed"].tolist() == [0, 1, 2]
    # improvement = control - treatment (lower is better)
    assert pairs["improvement"].round(6).tolist() == [0.2, -0.1, 0.4]
    assert pairs["held"].tolist() == [True, False, True]
    assert (row["n_seeds"], row["n_pairs"], row["held"]) == (3, 3, 2)
    assert row["seeds"] == "0 1 2" and row["held_seeds"] == "0 2"
    assert row["improvement_mean"] == pytest.approx(0.5 / 3)
    assert row["improvement_sd"] == pytest.approx(pd.Series([0.2, -0.1, 0.4]).std())
    assert row["treatment_mean"] == pytest.approx(0.8 / 3)
    assert row["control_mean"] == pytest.approx(1.3 / 3)
    assert row["verdict"] == MIXED  # 2 of 3: neither 80% nor at most 20%


def test_interval_is_the_t_interval_of_the_mean_improvement():
    low, high = t_interval([0.2, -0.1, 0.4])
    mean, sd = 0.5 / 3, pd.Series([0.2, -0.1, 0.4]).std()
    half = 4.302652729911275 * sd / math.sqrt(3)  # t(0.975, 2 degrees of freedom)
    assert (low, high) == pytest.approx((mean - half, mean + half))
    assert math.isnan(t_interval([0.3])[0])


def test_sign_test_is_one_sided_binomial():
    assert sign_test(3, 3) == pytest.approx(0.125)
    assert sign_test(5, 5) == pytest.approx(1 / 32)
    assert sign_test(0, 4) == pytest.approx(1.0)
    assert sign_test(4, 5) == pytest.approx(6 / 32)


@pytest.mark.parametrize(
    ("kl_cb", "kl_plain", "verdict"),
    [
        ([0.1, 0.1, 0.1], [0.3, 0.2, 0.4], HOLDS),  # 3 of 3
        ([0.5, 0.5, 0.5], [0.3, 0.2, 0.4], FAILS),  # 0 of 3
        ([0.1, 0.5, 0.1, 0.1, 0.1], [0.3, 0.2, 0.4, 0.3, 0.3], HOLDS),  # 4 of 5
        ([0.1, 0.5, 0.5, 0.1, 0.5], [0.3, 0.2, 0.4, 0.3, 0.3], MIXED),  # 2 of 5
        ([0.1], [0.3], ONE_SEED),
    ],
)
def test_verdict_follows_the_share_of_seeds_where_it_held(kl_cb, kl_plain, verdict):
    row, _ = one_claim(gan_table(kl_cb, kl_plain))
    assert row["verdict"] == verdict


def test_higher_is_better_flips_the_sign():
    row, pairs = one_claim(gan_table([0.1, 0.1, 0.1], [0.3, 0.2, 0.4]), better="higher")
    assert (pairs["improvement"] < 0).all() and row["verdict"] == FAILS


def test_tolerance_lets_a_slightly_worse_treatment_hold():
    table = gan_table([0.1] * 3, [0.1] * 3, fid_cb=[10.5, 10.9, 11.5], fid_plain=[10, 10, 10])
    strict, _ = one_claim(table, column="fid")
    lenient, pairs = one_claim(table, column="fid", tolerance=0.1)
    assert strict["verdict"] == FAILS
    # within 10% of the control's 10: 10.5 and 10.9 hold, 11.5 does not
    assert pairs["held"].tolist() == [True, True, False] and lenient["verdict"] == MIXED


def test_a_constant_control():
    row, pairs = one_claim(gan_table([0.6, 0.7, 0.9], []), better="higher", control=0.5)
    assert pairs["control"].tolist() == [0.5] * 3
    assert row["improvement_mean"] == pytest.approx(0.7 / 3) and row["verdict"] == HOLDS


def test_premise_not_met_overrides_the_comparison():
    table = gan_table([0.1, 0.1, 0.1], [0.3, 0.2, 0.4])
    premise = {"column": "fid", "at_least": 11.0}  # the control's FID is 10
    row, _ = one_claim(table, premise=premise)
    assert row["verdict"] == PREMISE_NOT_MET
    assert row["premise"] == "fid >= 11.0" and row["premise_value"] == "10"
    row, _ = one_claim(
        table,
        premise=[
            premise | {"at_least": 9.0},
            {"column": "kl_uniform", "method": "cb", "at_most": 0.2},
        ],
    )
    assert row["verdict"] == HOLDS and row["premise_value"] == "10; 0.1"


def test_premise_on_another_table():
    other = pd.DataFrame({"method": ["plain", "plain"], "seed": [0, 1], "accuracy": [0.9, 0.7]})
    claim = {**CLAIM, "premise": {"table": "robustness", "column": "accuracy", "at_most": 0.75}}
    rows, _ = claims_table(
        {"gan_metrics": gan_table([0.1, 0.1], [0.3, 0.2]), "robustness": other}, {"c": claim}, "x"
    )
    assert rows.iloc[0]["premise_value"] == "0.8" and rows.iloc[0]["verdict"] == PREMISE_NOT_MET


def test_pair_by_and_where_select_the_rows():
    rows = [
        {"method": m, "seed": s, "crafted_on": v, "transfer": t, "fooling_rate": r}
        for m, s, v, t, r in [
            ("data_free", 0, "a", False, 0.5),
            ("data_free", 0, "b", False, 0.4),
            ("data_free", 0, "a", True, 0.0),
            ("random", 0, "a", False, 0.1),
            ("random", 0, "b", False, 0.6),
        ]
    ]
    claim = {
        **CLAIM,
        "table": "uap",
        "column": "fooling_rate",
        "treatment": "data_free",
        "control": "random",
        "better": "higher",
        "where": {"transfer": False},
        "pair_by": ["crafted_on"],
    }
    table, pairs = claims_table({"uap": pd.DataFrame(rows)}, {"u": claim}, "x")
    assert pairs["crafted_on"].tolist() == ["a", "b"]
    assert pairs["improvement"].round(6).tolist() == [0.4, -0.2]
    assert table.iloc[0]["n_pairs"] == 2 and table.iloc[0]["verdict"] == ONE_SEED
    # without pair_by the two victims of seed 0 are ambiguous: one clear error
    with pytest.raises(ClaimError, match=r"claims\.u: the treatment has 2 rows .*pair_by"):
        claims_table({"uap": pd.DataFrame(rows)}, {"u": {**claim, "pair_by": []}}, "x")


def test_the_dataset_is_that_of_the_compared_rows():
    digits = gan_table([0.1, 0.1], [0.3, 0.2])
    mnist = gan_table([0.1, 0.1], [0.3, 0.2]).assign(dataset="mnist")
    mnist["method"] = mnist["method"] + "_mnist"
    row, _ = one_claim(pd.concat([digits, mnist]))
    assert row["dataset"] == "digits"


def test_a_column_the_table_lacks_names_the_claim():
    with pytest.raises(ClaimError, match=r"claims\.c\.column: the table has no column 'fid50'"):
        one_claim(gan_table([0.1], [0.2]), column="fid50")
    with pytest.raises(ClaimError, match=r"claims\.c\.pair_by: the table has no column 'victim'"):
        one_claim(gan_table([0.1], [0.2]), pair_by=["victim"])


def test_forest_plot_draws_every_claim(tmp_path):
    table, pairs = claims_table(
        {"gan_metrics": gan_table([0.1, 0.2, 0.1], [0.3, 0.2, 0.4])},
        {"a": CLAIM, "b": {**CLAIM, "column": "fid", "tolerance": 0.1}},
        "x",
    )
    info = plot_claims(table, pairs, tmp_path / "claims.png")
    assert info == {"claims": 2} and (tmp_path / "claims.png").stat().st_size > 10_000


@pytest.fixture(scope="module")
def default_config():
    return load_yaml(DEFAULT_CONFIG)


@pytest.mark.parametrize(
    ("change", "key"),
    [
        ({"control": "sndcgan_typo"}, "claims.cbgan_kl.control"),
        ({"treatment": "nowhere"}, "claims.cbgan_kl.treatment"),
        ({"table": "robust_gans"}, "claims.cbgan_kl.treatment"),
        ({"control": "sndcgan_cb"}, "claims.cbgan_kl.control"),
        ({"premise": {"column": "fid"}}, "claims.cbgan_kl.premise"),
        (
            {"premise": {"column": "fid", "method": "x", "at_least": 1}},
            "claims.cbgan_kl.premise.method",
        ),
        ({"where": {"threat": "linf99"}}, "claims.cbgan_kl.where.threat"),
        ({"better": "smaller"}, "claims.cbgan_kl.better"),
    ],
)
def test_a_claim_the_config_cannot_make_is_a_config_error(default_config, change, key):
    config = copy.deepcopy(default_config)
    config["claims"]["cbgan_kl"].update(change)
    with pytest.raises(ConfigError) as err:
        validate_config(config, SCHEMA)
    assert str(err.value).startswith(f"config key '{key}'"), str(err.value)
    assert "\n" not in str(err.value)


def test_a_claim_on_a_table_the_config_does_not_make(default_config):
    config = copy.deepcopy(default_config)
    del config["uaps"]
    expected = r"^config key 'claims\.uap_above_random\.table': .*no 'uap' table"
    with pytest.raises(ConfigError, match=expected):
        validate_config(config, SCHEMA)
