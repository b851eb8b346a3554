"""Robustness evaluation pieces: threat models' attack names, robust metrics, the fixed
AutoAttack subset, example bookkeeping, tables and figures of the robustness stage."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from advtail.attacks.deepfool import DeepFool
from advtail.attacks.gradient import FGSM, PGD
from advtail.attacks.losses import cw_margin
from advtail.attacks.robustness import attacked_predictions, stratified_indices
from advtail.attacks.threats import attack_settings, attack_steps, build_attack, check_budget
from advtail.metrics.robustness import robust_metrics
from advtail.plots.robustness import (
    plot_accuracy_against_eps,
    plot_adversarial_examples,
    plot_adversarial_predictions,
    plot_group_accuracy,
)
from torch import nn


def test_attack_names_carry_their_steps():
    assert attack_steps("pgd20") == 20 and attack_steps("cw100") == 100
    assert attack_steps("clean") is None and attack_steps("autoattack") is None
    for bad, words in (("pgd0", "at least 1"), ("pgd", "unknown"), ("fab", "unknown")):
        with pytest.raises(ValueError, match=words):
            attack_steps(bad)


def test_budgets_of_threats_lie_in_the_unit_interval():
    assert check_budget("8/255") == pytest.approx(8 / 255) and check_budget(1) == 1
    for bad in (0, -0.1, 1.5, "300/255"):
        with pytest.raises(ValueError, match=r"\(0, 1\]"):
            check_budget(bad)


def test_threat_attacks_are_built_on_the_model_scale():
    pgd = build_attack("pgd20", "linf", "8/255")
    assert isinstance(pgd, PGD) and pgd.steps == 20
    assert pgd.eps == pytest.approx(16 / 255) and pgd.step_size == pytest.approx(4 / 255)
    assert pgd.random_start and pgd.loss is not cw_margin
    cw = build_attack("cw100", "l2", 0.5, step_fraction=0.1, restarts=3)
    assert cw.loss is cw_margin and cw.norm == "l2" and cw.restarts == 3
    assert cw.step_size == pytest.approx(0.1)
    assert isinstance(build_attack("fgsm", "l2", 0.1), FGSM)
    deepfool = build_attack("deepfool", "linf", "4/255")
    assert isinstance(deepfool, DeepFool) and deepfool.eps == pytest.approx(8 / 255)
    assert build_attack("clean", "linf", 0.1) is None
    auto = build_attack("autoattack", "linf", "8/255", autoattack={"square_queries": 50})
    assert auto.settings()["square_queries"] == 50 and auto.eps == pytest.approx(16 / 255)
    assert attack_settings("pgd20", pgd)["step_size"] == pytest.approx(2 / 255)
    with pytest.raises(ValueError, match="norm"):
        build_attack("pgd20", "l1", 0.1)


def test_deepfool_beyond_the_budget_returns_the_image():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 3))
    x = torch.rand(20, 1, 4, 4) * 2 - 1
    y = model(x).argmax(1)
    unbounded = DeepFool("linf")(model, x, y)
    assert (model(unbounded).argmax(1) != y).float().mean() > 0.9
    tiny = DeepFool("linf", eps=1e-4)(model, x, y)
    assert torch.equal(tiny, x)  # no linear boundary is that close
    distance = (unbounded - x).flatten(1).abs().max(1).values
    budget = float(distance.median())
    kept = DeepFool("linf", eps=budget)(model, x, y)
    inside = distance <= budget * (1 + 1e-6)
    assert torch.equal(kept[inside], unbounded[inside]) and torch.equal(kept[~inside], x[~inside])


def test_robust_metrics_count_an_image_wrong_when_clean_or_attacked_is_wrong():
    y = np.array([0, 0, 1, 1])
    clean = np.array([0, 1, 1, 1])  # the second is wrong before any attack
    adversarial = np.array([0, 0, 0, 1])  # the attack "fixes" it, and fools the third
    m = robust_metrics(y, clean, adversarial, train_counts=[10, 5])
    assert m["accuracy"] == 0.5 and m["per_class_accuracy"] == [0.5, 0.5]
    assert m["predicted_counts"] == [3, 1] and m["true_counts"] == [2, 2]


def test_stratified_indices_are_fixed_even_and_sorted():
    labels = torch.tensor([0] * 50 + [1] * 5 + [2] * 45)
    chosen = stratified_indices(labels, 30, seed=1)
    assert torch.equal(chosen, stratified_indices(labels, 30, seed=1))
    assert not torch.equal(chosen, stratified_indices(labels, 30, seed=2))
    assert torch.equal(chosen, chosen.sort().values) and len(chosen.unique()) == 30
    # class 1 has only 5; the others share the rest evenly
    assert torch.bincount(labels[chosen]).tolist() == [13, 5, 12]
    assert len(stratified_indices(labels, 500)) == 100
    # nested: the subset of 30 lies inside that of 60 (a threat's subsets share examples)
    assert set(chosen.tolist()) <= set(stratified_indices(labels, 60, seed=1).tolist())


def test_attacked_predictions_keep_examples_in_the_order_asked():
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 3))
    x = torch.randn(10, 1, 2, 2)
    y = torch.zeros(10, dtype=torch.long)
    keep = torch.tensor([7, 2, 5])
    predictions, kept = attacked_predictions(model, None, x, y, batch_size=3, keep=keep)
    assert torch.equal(kept, x[keep]) and torch.equal(predictions, model(x).argmax(1))
    attack = FGSM(0.5)
    _, kept = attacked_predictions(model, attack, x, y, batch_size=4, keep=keep)
    assert torch.allclose(kept, attack(model, x[keep], y[keep]))


def _table() -> pd.DataFrame:
    """A robustness table of two methods, two seeds each, at two budgets."""
    rows = []
    for method, drop in (("ce", 0.3), ("reat", 0.1)):
        for seed in (0, 1):
            for eps in (4, 8):
                for attack, acc in (("clean", 0.9), ("pgd20", 0.9 - drop * eps / 4 - 0.02 * seed)):
                    rows.append(
                        {
                            "classifier": f"{method}_seed{seed}",
                            "method": method,
                            "seed": seed,
                            "threat": f"linf{eps}",
                            "norm": "linf",
                            "eps": eps / 255,
                            "eps_label": f"{eps}/255",
                            "attack": attack,
                            "num_attacked": 10,
                            "accuracy": acc,
                            "head_accuracy": acc + 0.05,
                            "body_accuracy": acc,
                            "tail_accuracy": acc - 0.05,
                            "acc_0": acc,
                            "acc_1": acc,
                            "pred_0": 5 if attack == "clean" else 8,
                            "pred_1": 5 if attack == "clean" else 2,
                            "true_0": 5,
                            "true_1": 5,
                        }
                    )
    return pd.DataFrame(rows)


def test_robustness_figures_draw_the_means_over_seeds(tmp_path):
    table = _table()
    groups = plot_group_accuracy(table, "linf8", tmp_path / "groups.png")
    assert groups["ce"].loc["pgd20", "tail_accuracy"] == pytest.approx(0.9 - 0.6 - 0.01 - 0.05)
    assert groups["reat"].loc["clean", "accuracy"] == pytest.approx(0.9)
    counts = plot_adversarial_predictions(table, "linf8", "pgd20", tmp_path / "pred.png")
    assert counts["ce"].loc["pgd20"].tolist() == [8, 2]
    curves = plot_accuracy_against_eps(table, "pgd20", tmp_path / "eps.png")
    ce = curves[("linf", "ce")]
    assert ce.index.tolist() == pytest.approx([0, 4 / 255, 8 / 255])
    assert ce.tolist() == pytest.approx([0.9, 0.59, 0.29])
    assert (np.diff(ce.to_numpy()) < 0).all()
    for name in ("groups", "pred", "eps"):
        assert (tmp_path / f"{name}.png").read_bytes()[:4] == b"\x89PNG"


def test_example_grid_magnifies_each_models_perturbation_to_full_scale(tmp_path):
    clean = np.zeros((2, 1, 4, 4), dtype=np.float32)
    examples = {
        "a": {
            "labels": np.array([0, 1]),
            "clean": clean,
            "adv_pgd20": clean + 0.1,
            "pred_pgd20": np.array([1, 1]),
        },
        "b": {
            "labels": np.array([0, 1]),
            "clean": clean,
            "adv_pgd20": clean - 0.25,
            "pred_pgd20": np.array([0, 0]),
        },
    }
    factors = plot_adversarial_examples(examples, "pgd20", ["zero", "one"], tmp_path / "g.png")
    assert factors == pytest.approx({"a": 10.0, "b": 4.0})
    assert (tmp_path / "g.png").read_bytes()[:4] == b"\x89PNG"


def _metrics(with_autoattack: bool) -> dict:
    def result(acc, tail, per_class):
        return {
            "accuracy": acc,
            "group_accuracy": {"head": 1.0, "body": 0.5, "tail": tail},
            "per_class_accuracy": per_class,
            "num_attacked": 4,
        }

    attacks = {"clean": result(0.75, 0.5, [1.0, 0.5]), "pgd20": result(0.5, 0.0, [1.0, 0.0])}
    attacks["pgd20"] |= {"library": "advtail 0.1.0", "steps": 20}
    if with_autoattack:
        attacks["autoattack"] = result(0.25, 0.0, [0.5, 0.0]) | {
            "library": "pyautoattack 0.2.0",
            "version": "standard",
            "flags": "there are 1 points with zero gradient",
            "note": "on a fixed class-stratified subset of 4 of 8 test images (seed 0)",
        }
    attacks["worst_case"] = result(0.5, 0.0, [1.0, 0.0]) | {"over": ["clean", "pgd20"]}
    return {
        "classifier": "reat_lt10",
        "dataset": "cifar10",
        "subset": "lt10",
        "threat": "linf8",
        "norm": "linf",
        "eps": 8 / 255,
        "eps_label": "8/255",
        "class_names": ["cat", "dog"],
        "num_test": 8,
        "attacks": attacks,
    }


def test_model_card_has_robustbench_fields_and_our_extensions():
    from advtail.metrics.model_cards import ROBUSTBENCH_FIELDS, card_row, model_card

    recipe = {
        "arch": {"name": "resnet18"},
        "seed": 3,
        "paper": {"venue": "a venue", "link": "https://example.org/paper", "reported": "42.0"},
    }
    card = model_card(_metrics(True), recipe)
    assert list(card)[: len(ROBUSTBENCH_FIELDS)] == list(ROBUSTBENCH_FIELDS)
    assert card["name"] == "reat_lt10" and card["architecture"] == "resnet18"
    assert card["threat_model"] == "Linf" and card["eps"] == "8/255"
    # RobustBench's form: percent with two decimals, as strings
    assert card["clean_acc"] == "75.00" and card["autoattack_acc"] == "25.00"
    assert card["number_forward_passes"] == 1 and card["additional_data"] is False
    assert (card["venue"], card["reported"]) == ("a venue", "42.0")
    ours = card["advtail"]
    assert ours["headline_attack"] == "autoattack" and ours["num_attacked"] == 4
    assert ours["per_class_accuracy"] == {"cat": 0.5, "dog": 0.0}
    assert ours["flags"].startswith("there are 1 points") and ours["seed"] == 3
    assert ours["attack_settings"]["autoattack"]["version"] == "standard"
    assert ours["robust_accuracy"] == {
        "clean": 0.75,
        "pgd20": 0.5,
        "autoattack": 0.25,
        "worst_case": 0.5,
    }
    row = card_row(card)
    assert row["tail_accuracy"] == 0.0 and row["flags"] == ours["flags"]
    # without AutoAttack the card says so, and its headline is the worst case
    plain = model_card(_metrics(False), {})
    assert plain["autoattack_acc"] is None and plain["venue"] is None
    assert plain["advtail"]["headline_attack"] == "worst_case"
