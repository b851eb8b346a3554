"""Every full-scale config executed end to end in miniature (``--config shrink=true``):
its own networks, resolutions, losses and attacks on stand-in data, on the CPU."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from advtail.config import expand_seeds, load_yaml, shrink_config, validate_config
from conftest import REPO, SCHEMA, copy_workflow
from test_shrink import FULL_SCALE
from test_workflow import snakemake

pytestmark = pytest.mark.workflow

# In every run of the suite: the miniatures of the REAT and Rob-GAN configs (every
# classifier loss, PGD-AT and REAT, the four attack families with the standard AutoAttack
# on RGB images; AC-GAN, Rob-GAN, Fast-RobGAN, fine-tuning and PGD-AT of a discriminator),
# about 2 minutes on 2 cores. The other six (about 12 minutes more) with `pytest -m
# miniature`.
IN_EVERY_RUN = {"cifar10_lt_reat", "cifar10_robgan"}
CONFIGS = [
    name if name in IN_EVERY_RUN else pytest.param(name, marks=pytest.mark.miniature)
    for name in FULL_SCALE
]


@pytest.fixture(scope="module")
def workflow_copy(tmp_path_factory):
    """One copy of the workflow; each config runs in a results folder of its own."""
    return copy_workflow(tmp_path_factory.mktemp("miniature"))


@pytest.mark.parametrize("name", CONFIGS)
def test_full_scale_config_runs_end_to_end_in_miniature(name, workflow_copy, tmp_path):
    config = validate_config(shrink_config(load_yaml(REPO / "config" / f"{name}.yaml")), SCHEMA)
    expand_seeds(config)
    snakemake(
        workflow_copy,
        "--cores",
        "2",
        "--configfile",
        f"config/{name}.yaml",
        "--config",
        "shrink=true",
        "--directory",
        str(tmp_path),
        timeout=1800,
    )
    tables = tmp_path / "results" / "tables"
    classifiers = pd.read_csv(tables / "classifiers.csv")
    trained = set(config["classifiers"]) - {
        n for n, c in config["classifiers"].items() if c.get("role") == "cas"
    }
    assert trained <= set(classifiers["classifier"]), classifiers["classifier"].tolist()
    assert classifiers["accuracy"].between(0, 1).all()
    if config["gans"]:
        gans = pd.read_csv(tables / "gan_metrics.csv")
        assert sorted(gans["gan"]) == sorted(config["gans"])
        assert gans["kl_uniform"].ge(0).all() and gans["fid"].gt(0).all()
    for threat, cfg in config["robustness"]["threats"].items():
        robustness = pd.read_csv(tables / "robustness.csv")
        rows = robustness[robustness["threat"] == threat]
        assert sorted(set(rows["classifier"])) == sorted(cfg["classifiers"])
        assert set(rows["attack"]) >= set(cfg["attacks"]) - {"clean"}
        assert rows["accuracy"].between(0, 1).all()
        for classifier in cfg["classifiers"]:
            card = json.loads(
                (tmp_path / "results" / "model_cards" / f"{classifier}_{threat}.json").read_text()
            )
            assert card["name"] == classifier and card["threat_model"] in ("Linf", "L2")
            paper = config["classifiers"][classifier].get("paper") or {}
            assert (card["venue"], card["link"]) == (paper.get("venue"), paper.get("link"))
    if config.get("uaps"):
        uaps = pd.read_csv(tables / "uap.csv")
        victims = set(config["uaps"]["victims"])
        assert set(uaps["crafted_on"]) == set(uaps["evaluated_on"]) == victims
        # the six methods against every victim, on its own and transferred
        assert uaps.groupby("evaluated_on")["method"].nunique().eq(6).all()
        assert uaps["fooling_rate"].between(0, 1).all()
    assert (tmp_path / "results" / "logs").is_dir()
