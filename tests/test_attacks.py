"""The attack package: known values, cross-checks against the Adversarial Robustness
Toolbox (ART) on a small trained classifier, and gradient-masking sanity checks."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from advtail.attacks.base import eval_mode
from advtail.attacks.budgets import budget_value, to_model_scale
from advtail.attacks.deepfool import DeepFool
from advtail.attacks.gradient import FGSM, PGD, FreePerturbation, project
from advtail.attacks.losses import cross_entropy, cw_margin, weighted_cross_entropy
from advtail.attacks.robustness import correct_flags, robust_flags
from advtail.data.arrays import save_image_set
from advtail.data.sources import build_splits
from advtail.nets.classifiers import load_classifier
from advtail.nets.inference import to_model_input
from torch import nn

# ------------------------------------------------------------------ small pieces


def test_budgets_are_converted_once_from_the_pixel_scale():
    assert budget_value("8/255") == pytest.approx(8 / 255)
    assert to_model_scale("8/255") == pytest.approx(16 / 255)
    assert to_model_scale(0.5) == 1.0
    with pytest.raises(ValueError, match="8/255"):
        budget_value("eight")


def test_cw_margin_and_weighted_cross_entropy_values():
    logits = torch.tensor([[2.0, 1.0, 0.0], [0.0, 3.0, 1.0]])
    y = torch.tensor([0, 2])
    assert cw_margin(logits, y).tolist() == [-1.0, 2.0]  # max other minus true
    weights = torch.tensor([0.5, 1.0, 3.0])
    ce = cross_entropy(logits, y)
    assert torch.allclose(weighted_cross_entropy(weights)(logits, y), ce * torch.tensor([0.5, 3]))


def test_projection_onto_the_balls():
    delta = torch.tensor([[[[3.0, -4.0]]]])
    assert project(delta, 1.0, "linf").flatten().tolist() == [1.0, -1.0]
    assert project(delta, 1.0, "l2").flatten().tolist() == pytest.approx([0.6, -0.8])
    assert project(delta, 10.0, "l2").flatten().tolist() == [3.0, -4.0]  # inside: unchanged


def test_free_perturbation_ascends_along_the_shared_gradient_and_stays_in_the_ball():
    free = FreePerturbation(eps=0.1, step_size=0.06)
    x = torch.zeros(2, 1, 2, 2)
    for expected in (0.06, 0.1):  # the second step is clipped to eps
        x_adv = free.apply(x)
        (x_adv * torch.tensor([1.0, -1.0]).view(2, 1, 1, 1)).sum().backward()
        free.update(x_adv)
        assert free.delta[0].unique().tolist() == pytest.approx([expected])
        assert free.delta[1].unique().tolist() == pytest.approx([-expected])
    assert free.apply(torch.zeros(3, 1, 2, 2)).abs().sum() == 0  # another batch size


def test_attack_runs_the_model_in_eval_mode_and_restores_its_mode():
    model = nn.Sequential(nn.Flatten(), nn.BatchNorm1d(4), nn.Linear(4, 3))
    model.train()
    before = model[1].running_mean.clone()
    x, y = torch.rand(8, 1, 2, 2) * 2 - 1, torch.randint(0, 3, (8,))
    PGD(0.1, steps=3, step_size=0.05)(model, x, y)
    assert model.training and model[1].training
    assert torch.equal(model[1].running_mean, before)  # batch statistics never updated
    with eval_mode(model):
        assert not model[1].training
    assert model[1].training


# ------------------------------------------------------------------ a trained classifier


@pytest.fixture(scope="module")
def victim_files(tmp_path_factory):
    """A small CNN trained on the digits (8 px): its folder, with model.pt and the
    train / val / test splits."""
    from advtail.stages.train_classifier import train_classifier

    root = tmp_path_factory.mktemp("attacks")
    cfg = {"source": "digits", "image_size": 8, "channels": 1, "test_fraction": 0.35}
    splits = build_splits("digits", {**cfg, "val_per_class": 5, "split_seed": 0})
    for split, image_set in splits.items():
        save_image_set(root / f"{split}.npz", image_set)
    classifier = {
        "subset": "full",
        "arch": {"name": "small_cnn", "width": 16},
        "loss": {"name": "ce"},
        "optimizer": {"name": "sgd", "lr": 0.05, "momentum": 0.9, "weight_decay": 0.0005},
        "epochs": 12,
        "batch_size": 64,
        "select": "last",
        "seed": 0,
    }
    train_classifier(
        "victim",
        classifier,
        root / "train.npz",
        root / "val.npz",
        root / "model.pt",
        root / "log.csv",
        root / "meta.json",
        root / "ckpt.pt",
        device="cpu",
    )
    return root


@pytest.fixture(scope="module")
def trained(victim_files):
    """The victim and 600 held-out images to attack."""
    from advtail.data.arrays import load_image_set

    model, _ = load_classifier(victim_files / "model.pt")
    test = load_image_set(victim_files / "test.npz")
    x = to_model_input(torch.from_numpy(test.images))
    y = torch.from_numpy(test.labels)
    assert len(y) >= 600
    return model, x[:600], y[:600]


def accuracy(model, x, y) -> float:
    return correct_flags(model, x, y).float().mean().item()


def art_classifier(model):
    pytest.importorskip("art")
    from art.estimators.classification import PyTorchClassifier

    return PyTorchClassifier(
        model=model,
        loss=nn.CrossEntropyLoss(),
        input_shape=(1, 8, 8),
        nb_classes=10,
        clip_values=(-1.0, 1.0),
        device_type="cpu",
    )


def art_pgd(model, eps, step, steps, random_inits):
    """ART's L-inf PGD on ``model`` (the whole evaluation set in one batch)."""
    from art.attacks.evasion import ProjectedGradientDescentPyTorch

    return ProjectedGradientDescentPyTorch(
        art_classifier(model),
        norm=np.inf,
        eps=eps,
        eps_step=step,
        max_iter=steps,
        num_random_init=random_inits,
        batch_size=600,
        verbose=False,
    )


def test_the_victim_is_accurate(trained):
    model, x, y = trained
    assert accuracy(model, x, y) > 0.85


def test_fgsm_gives_the_libraries_images(trained):
    from art.attacks.evasion import FastGradientMethod

    model, x, y = trained
    eps = to_model_scale(4 / 255)
    ours = FGSM(eps)(model, x, y)
    art = FastGradientMethod(art_classifier(model), norm=np.inf, eps=eps, num_random_init=0)
    theirs = torch.from_numpy(art.generate(x.numpy(), y=y.numpy()))
    assert (ours - x).abs().max() > 0
    assert torch.allclose(ours, theirs, atol=1e-5)


def test_pgd_without_random_start_gives_the_libraries_images(trained):
    model, x, y = trained
    eps, step = to_model_scale(8 / 255), to_model_scale(2 / 255)
    ours = PGD(eps, steps=10, step_size=step, random_start=False)(model, x, y)
    art = art_pgd(model, eps, step, steps=10, random_inits=0)
    theirs = torch.from_numpy(art.generate(x.numpy(), y=y.numpy()))
    assert (ours - x).abs().max() == pytest.approx(eps, abs=1e-6)
    assert torch.allclose(ours, theirs, atol=1e-5)


def test_pgd_with_random_start_agrees_with_the_library_within_a_point(trained):
    model, x, y = trained
    eps, step = to_model_scale(12 / 255), to_model_scale(3 / 255)
    torch.manual_seed(0)
    ours = accuracy(model, PGD(eps, 20, step)(model, x, y, torch.Generator().manual_seed(1)), y)
    art = art_pgd(model, eps, step, steps=20, random_inits=1)
    np.random.seed(0)
    theirs = accuracy(model, torch.from_numpy(art.generate(x.numpy(), y=y.numpy())), y)
    assert 0.05 < ours < 0.95, ours  # a budget where the comparison means something
    assert abs(ours - theirs) <= 0.01, (ours, theirs)


def test_deepfool_fooling_rate_agrees_with_the_library_within_two_points(trained):
    from art.attacks.evasion import DeepFool as ArtDeepFool

    model, x, y = trained
    with torch.no_grad():
        clean = model(x).argmax(1)
    ours = DeepFool("l2", overshoot=0.02, max_iter=50)(model, x, y)
    art = ArtDeepFool(art_classifier(model), max_iter=50, epsilon=0.02, nb_grads=10, verbose=False)
    theirs = torch.from_numpy(art.generate(x.numpy()))
    with torch.no_grad():
        ours_rate = (model(ours).argmax(1) != clean).float().mean().item()
        theirs_rate = (model(theirs).argmax(1) != clean).float().mean().item()
    assert ours_rate > 0.9
    assert abs(ours_rate - theirs_rate) <= 0.02, (ours_rate, theirs_rate)
    # minimal: the L2 perturbations are far smaller than the images
    assert (ours - x).flatten(1).norm(dim=1).median() < x.flatten(1).norm(dim=1).median() / 2


def test_linf_deepfool_fools_within_a_small_budget(trained):
    model, x, y = trained
    with torch.no_grad():
        clean = model(x).argmax(1)
    x_adv = DeepFool("linf")(model, x, y)
    with torch.no_grad():
        fooled = (model(x_adv).argmax(1) != clean).float().mean().item()
    assert fooled > 0.9
    assert (x_adv - x).abs().flatten(1).max(1).values.median() < 0.5


# ------------------------------------------------------------------ gradient masking


def test_robust_accuracy_falls_with_eps_and_reaches_zero(trained):
    model, x, y = trained
    budgets = [2 / 255, 8 / 255, 32 / 255, 1.0]  # 1.0 can replace the whole image
    accuracies = []
    for eps01 in budgets:
        eps = to_model_scale(eps01)
        attack = PGD(eps, 20, eps / 4)
        adv = attack(model, x, y, torch.Generator().manual_seed(0))
        accuracies.append(accuracy(model, adv, y))
    assert all(b <= a for a, b in zip(accuracies, accuracies[1:], strict=False)), accuracies
    assert accuracies[-1] == 0.0, accuracies


def test_more_pgd_steps_never_help_the_model(trained):
    model, x, y = trained
    eps = to_model_scale(8 / 255)
    rates = {
        steps: accuracy(model, PGD(eps, steps, to_model_scale(2 / 255))(model, x, y), y)
        for steps in (20, 100)
    }
    assert rates[100] <= rates[20] + 0.005, rates


def test_robust_flags_keep_the_worst_case_per_sample(trained):
    model, x, y = trained
    eps = to_model_scale(8 / 255)
    attacks = {"fgsm": FGSM(eps), "pgd20": PGD(eps, 20, to_model_scale(2 / 255))}
    flags = robust_flags(model, attacks, x, y)
    assert list(flags) == ["clean", "fgsm", "pgd20"]
    assert torch.equal(flags["clean"], correct_flags(model, x, y))
    # a running worst case: a sample robust under PGD was robust under FGSM and clean
    assert not (flags["pgd20"] & ~flags["fgsm"]).any()
    assert not (flags["fgsm"] & ~flags["clean"]).any()
    alone = correct_flags(model, PGD(eps, 20, to_model_scale(2 / 255))(model, x, y), y)
    assert flags["pgd20"].sum() <= alone.sum()


def test_autoattack_adapter_maps_the_image_scales_exactly():
    from advtail.attacks.autoattack import from_unit_range, to_unit_range

    # every image value the pipeline holds (uint8 -> [-1, 1]) to [0, 1] and back
    x = to_model_input(torch.arange(256, dtype=torch.uint8).reshape(1, 16, 16, 1))
    x01 = to_unit_range(x)
    assert torch.allclose(x01.flatten(), torch.arange(256) / 255, atol=1e-7, rtol=0)
    assert torch.equal(from_unit_range(x01), x)
    assert from_unit_range(torch.tensor([-0.5, 1.5])).tolist() == [-1.0, 1.0]


def test_standard_autoattack_is_no_weaker_than_pgd20_or_the_art_ensemble(trained):
    from advtail.attacks.autoattack import ArtAutoAttack, AutoAttack

    model, x, y = trained
    # few samples at a budget where most fall (Square's 5000 queries run on the rest);
    # the cross-check's Square 1000 queries (the standard version's cost is what is tested)
    x, y = x[:60], y[:60]
    eps = to_model_scale(32 / 255)
    pgd = accuracy(model, PGD(eps, 20, to_model_scale(2 / 255))(model, x, y), y)
    robust = {}
    for attack in (AutoAttack(eps), ArtAutoAttack(eps, square_queries=1000)):
        x_adv = attack(model, x, y, torch.Generator().manual_seed(0))
        assert (x_adv - x).abs().max() <= eps + 1e-5  # within the budget on [-1, 1]
        robust[attack.name] = accuracy(model, x_adv, y)
    print(f"robust accuracy: PGD-20 {pgd:.4f}, {robust}")
    # no weaker, up to one image of the 60 (the attacks' random starts differ)
    assert robust["autoattack"] <= pgd + 1 / 60, (robust, pgd)
    assert robust["autoattack"] <= robust["autoattack_art"] + 1 / 60, robust
    standard = AutoAttack(eps).settings()
    assert standard["library"].startswith("pyautoattack 0.") and standard["version"] == "standard"
    assert standard["ensemble"] == "APGD-CE, APGD-T, FAB-T, Square"
    reduced = AutoAttack(eps, square_queries=500).settings()
    assert reduced["version"] == "standard, reduced cost" and reduced["square_queries"] == 500
    art = ArtAutoAttack(eps).settings()
    assert art["library"].startswith("adversarial-robustness-toolbox 1.")


def test_standard_autoattack_runs_on_rgb_images_read_from_nhwc_arrays():
    from advtail.attacks.autoattack import AutoAttack

    # to_model_input permutes NHWC uint8 arrays: RGB batches arrive with channels-last
    # strides, on which the library's gradient check failed (found by the miniature run
    # of cifar10_lt_reat.yaml)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.Linear(4 * 6 * 6, 10)).eval()
    images = torch.randint(0, 256, (6, 8, 8, 3), dtype=torch.uint8)
    x = to_model_input(images)
    assert not x.is_contiguous()
    with torch.no_grad():  # labels the model gets right: every attack of the ensemble runs
        y = model(x).argmax(1)
    eps = to_model_scale(8 / 255)
    attack = AutoAttack(eps, apgd_iterations=3, square_queries=5)
    x_adv = attack(model, x, y, torch.Generator().manual_seed(0))
    assert (x_adv - x).abs().max() <= eps + 1e-5
    # nothing is left robust that a plain PGD-10 breaks, on the same model
    pgd = PGD(eps, 10, to_model_scale(2 / 255))(model, x, y)
    assert accuracy(model, x_adv, y) <= accuracy(model, pgd, y) + 1 / 6


class _Quantised(nn.Module):
    """A planted gradient mask: the model sees its input rounded to 0.5 steps, so the
    input gradient is zero everywhere."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model(torch.round(x * 2) / 2)


def test_autoattack_flags_a_masked_model_and_not_the_plain_one(trained):
    from advtail.attacks.autoattack import AutoAttack

    model, x, y = trained
    x, y = x[:20], y[:20]
    eps, cheap = to_model_scale(16 / 255), {"apgd_iterations": 5, "square_queries": 10}
    plain, masked = AutoAttack(eps, **cheap), AutoAttack(eps, **cheap)
    plain(model, x, y, torch.Generator().manual_seed(0))
    masked(_Quantised(model), x, y, torch.Generator().manual_seed(0))
    assert plain.settings()["flags"] == ""
    assert "zero gradient" in masked.settings()["flags"], masked.settings()


# ------------------------------------------------------------------ the evaluation stage


def test_evaluate_robustness_writes_every_attack_per_group_and_the_examples(victim_files, tmp_path):
    from advtail.stages.evaluate_robustness import evaluate_robustness
    from advtail.stages.tables import robustness_table

    threat = {
        "norm": "linf",
        "eps": "32/255",
        "attacks": ["clean", "fgsm", "pgd20", "cw10", "deepfool", "autoattack"],
        "step_fraction": 0.25,
        "restarts": 1,
        "batch_size": 128,
        "seed": 0,
        "images": {"cw10": 100},
        "autoattack": {"images": 30, "apgd_iterations": 10, "square_queries": 20},
    }
    out, examples = tmp_path / "linf32.json", tmp_path / "linf32_examples.npz"
    summary = evaluate_robustness(
        victim_files / "model.pt",
        victim_files / "test.npz",
        out,
        examples,
        "linf32",
        threat,
        device="cpu",
        threads=1,
    )
    attacks = summary["attacks"]
    assert list(attacks) == threat["attacks"] + ["worst_case"]
    n = summary["num_test"]
    assert n > 600 and summary["eps"] == pytest.approx(32 / 255)
    subset_sizes = {"autoattack": 30, "cw10": 100}
    for name, a in attacks.items():
        expected = subset_sizes.get(name, n)
        assert a["num_attacked"] == expected
        if name != "worst_case":
            assert sum(a["predicted_counts"]) == sum(a["true_counts"]) == expected
            # the per-class accuracies are the overall one split up
            split = np.dot(a["per_class_accuracy"], a["true_counts"]) / expected
            assert split == pytest.approx(a["accuracy"])
    # the AutoAttack subset is stratified: 3 images of each class
    assert attacks["autoattack"]["true_counts"] == [3] * 10
    assert "subset of 30" in attacks["autoattack"]["note"]
    assert (
        attacks["cw10"]["true_counts"] == [10] * 10 and "subset of 100" in attacks["cw10"]["note"]
    )
    assert attacks["autoattack"]["library"].startswith("pyautoattack ")
    assert attacks["pgd20"]["library"].startswith("advtail ")
    assert attacks["pgd20"]["step_size"] == pytest.approx(8 / 255)
    # no attack beats the clean accuracy; iterating beats one step; the worst case is
    # at most every attack that ran on every image
    clean = attacks["clean"]["accuracy"]
    assert all(a["accuracy"] <= clean for k, a in attacks.items() if k != "autoattack")
    assert attacks["pgd20"]["accuracy"] <= attacks["fgsm"]["accuracy"]
    assert attacks["pgd20"]["accuracy"] < clean - 0.2
    full = [k for k in threat["attacks"] if k not in subset_sizes]
    assert attacks["worst_case"]["over"] == full
    assert attacks["worst_case"]["accuracy"] <= min(attacks[k]["accuracy"] for k in full)
    # the examples: the first test image of each class in the subset, in class order, and
    # adversarial examples within the budget (L-inf 32/255 is 64/255 on the model scale)
    with np.load(examples) as arrays:
        assert arrays["labels"].tolist() == list(range(10))
        for name in threat["attacks"]:
            delta = arrays[f"adv_{name}"] - arrays["clean"]
            assert np.abs(delta).max() <= 64 / 255 + 1e-5
        assert np.abs(arrays["adv_pgd20"] - arrays["clean"]).max() > 60 / 255
        assert np.array_equal(arrays["adv_clean"], arrays["clean"])
    table = robustness_table(
        [out],
        tmp_path / "robustness.csv",
        "test",
        None,
        tmp_path / "s.csv",
        recipes={"victim": {"arch": {"name": "small_cnn"}, "seed": 0}},
        out_cards=tmp_path / "cards",
        out_cards_table=tmp_path / "cards.csv",
    )
    # its RobustBench-format card, and the table of cards
    card = json.loads((tmp_path / "cards/victim_linf32.json").read_text())
    assert card["autoattack_acc"] == f"{100 * attacks['autoattack']['accuracy']:.2f}"
    assert card["architecture"] == "small_cnn" and card["eps"] == "32/255"
    cards = pd.read_csv(tmp_path / "cards.csv")
    assert len(cards) == 1 and cards.loc[0, "headline_attack"] == "autoattack"
    assert list(table["attack"]) == list(attacks)
    assert table.set_index("attack")["tail_accuracy"].to_dict() == pytest.approx(
        {k: a["group_accuracy"]["tail"] for k, a in attacks.items()}
    )
    assert table.loc[table["attack"] == "autoattack", "note"].str.contains("subset").all()
    # AutoAttack's checks found nothing to flag in a plain CNN (the flag column is empty)
    assert table.loc[table["attack"] == "autoattack", "flags"].fillna("").eq("").all()
    assert (
        "version=standard, reduced cost" in table.set_index("attack").loc["autoattack", "settings"]
    )
