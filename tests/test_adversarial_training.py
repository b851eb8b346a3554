"""Adversarial training through the one classifier trainer: PGD-AT and REAT (RBL inner
loss, TAIL outer term), their logs, model selection under PGD, and resume."""

import json

import numpy as np
import pandas as pd
import pytest
import torch
from advtail.attacks.gradient import PGD
from advtail.attacks.losses import cw_margin, weighted_cross_entropy
from advtail.attacks.robustness import attacked_predictions
from advtail.data.arrays import load_image_set, save_image_set
from advtail.errors import DataFileError
from advtail.losses.classification import BalancedSoftmaxLoss
from advtail.losses.reat import (
    TailFeatureMarginLoss,
    rbl_class_weights,
    tail_class_weights,
    tail_classes,
    tail_term_code,
    tail_term_paper,
)
from advtail.metrics.generation import counts_kl_to_uniform, kl_to_uniform
from advtail.metrics.robustness import robust_metrics
from advtail.nets.classifiers import build_classifier, load_classifier
from advtail.nets.inference import to_model_input
from advtail.stages.robustness_figures import adversarial_training_figure
from advtail.stages.tables import adversarial_training_table
from advtail.training.adversarial import AdversarialExamples
from test_training import CFG, Interrupt, blobs, run

PGD_AT = {
    "attack": "pgd",
    "eps": "48/255",
    "steps": 3,
    "step_size": "16/255",
    "random_start": True,
    "inner_loss": {"name": "ce", "weights": "none"},
    "validation_steps": 3,
}
REAT = {**PGD_AT, "inner_loss": {"name": "ce", "weights": "rbl"}, "tail": {"lambda": 1.0}}
AT_CFG = {
    **CFG,
    "loss": {"name": "balanced_softmax"},
    "reweighting": {"name": "none"},
    "augment": {"crop_padding": 1},
    "epochs": 4,
}


@pytest.fixture
def toy(tmp_path):
    """The long-tailed blobs of the trainer's tests: 40, 20, 10, 6 training images."""
    paths = {name: tmp_path / f"{name}.npz" for name in ("train", "val", "test")}
    for path, (counts, seed) in zip(
        paths.values(), (([40, 20, 10, 6], 0), ([5] * 4, 1), ([10] * 4, 2)), strict=True
    ):
        save_image_set(path, blobs(counts, seed))
    return paths


def _counts(log: pd.DataFrame, prefix: str) -> np.ndarray:
    return log[[c for c in log if c.startswith(prefix)]].to_numpy()


def test_reat_logs_its_adversarial_predictions_and_rbl_weights(toy, tmp_path):
    out = tmp_path / "reat"
    result = run(toy, out, cfg={**AT_CFG, "adversarial": REAT})
    log = pd.read_csv(out / "log.csv")
    predicted = _counts(log, "adversarial_predicted_")
    weights = _counts(log, "inner_weight_")
    train_counts = [40, 20, 10, 6]
    assert predicted.shape == weights.shape == (4, 4)
    # every training image (76; batches of 16 leave 12, none dropped) is attacked once
    assert (predicted.sum(1) == 76).all()
    # epoch 1 weights from the training counts; later ones from the previous epoch's a_k
    assert weights[0] == pytest.approx(rbl_class_weights(train_counts), rel=1e-6)
    for epoch in range(1, 4):
        expected = rbl_class_weights(train_counts, predicted[epoch - 1])
        assert weights[epoch] == pytest.approx(expected, rel=1e-6)
    assert log["adversarial_prediction_kl"].tolist() == pytest.approx(
        [counts_kl_to_uniform(c) for c in predicted]
    )
    # the kept epoch is the best under the validation PGD, not on clean accuracy
    scores = log["val_pgd_balanced_accuracy"].to_numpy()
    assert scores[result.selected - 1] == scores.max()
    assert (log["val_pgd_balanced_accuracy"] <= log["val_balanced_accuracy"] + 1e-9).all()


def test_interrupted_reat_resumes_to_the_same_weights(toy, tmp_path):
    cfg = {**AT_CFG, "adversarial": REAT}
    whole = run(toy, tmp_path / "whole", cfg=cfg)

    def stop_after_second(epoch, row):
        if epoch == 1:
            raise Interrupt

    with pytest.raises(Interrupt):
        run(toy, tmp_path / "parts", cfg=cfg, on_epoch_end=stop_after_second)
    resumed = run(toy, tmp_path / "parts", cfg=cfg)
    assert resumed.resumed_from == 2
    for key, value in whole.best["model"].items():
        assert torch.equal(value, resumed.best["model"][key]), key
    whole_log = pd.read_csv(tmp_path / "whole" / "log.csv")
    parts_log = pd.read_csv(tmp_path / "parts" / "log.csv")
    # epoch 3's RBL weights need epoch 2's counts, which only the checkpoint carries
    assert (_counts(whole_log, "inner_weight_") == _counts(parts_log, "inner_weight_")).all()


def _pgd_accuracy(model_path, test_path, eps01=48 / 255):
    model, _ = load_classifier(model_path)
    test = load_image_set(test_path)
    x, y = to_model_input(torch.as_tensor(test.images)), torch.as_tensor(test.labels)
    attack = PGD(2 * eps01, 10, 2 * eps01 / 4)
    predicted, _ = attacked_predictions(model, attack, x, y, generator=torch.Generator())
    return (predicted == y).float().mean().item()


def test_pgd_training_raises_robust_accuracy(toy, tmp_path):
    cfg = {**AT_CFG, "epochs": 6, "loss": {"name": "ce"}}
    run(toy, tmp_path / "clean", cfg=cfg)
    run(toy, tmp_path / "pgd", cfg={**cfg, "adversarial": PGD_AT})
    clean = _pgd_accuracy(tmp_path / "clean" / "model.pt", toy["test"])
    robust = _pgd_accuracy(tmp_path / "pgd" / "model.pt", toy["test"])
    assert robust > clean + 0.2, (clean, robust)


def test_examples_are_made_in_eval_mode_and_leave_batch_norm_alone():
    torch.manual_seed(0)
    model = build_classifier(
        {
            "name": "small_cnn",
            "width": 4,
            "num_classes": 4,
            "channels": 1,
            "mean": [0.5],
            "std": [0.5],
        }
    )
    model.train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    examples = AdversarialExamples(PGD_AT, [40, 20, 10, 6])
    examples.start_epoch("cpu")
    x = torch.rand(8, 1, 8, 8) * 2 - 1
    y = torch.arange(8) % 4
    x_adv = examples(model, x, y, torch.Generator().manual_seed(0))
    assert model.training
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), key  # running statistics untouched
    assert (x_adv - x).abs().max() <= 2 * 48 / 255 + 1e-6
    assert (x_adv - x).abs().max() > 0


def test_rbl_weights_follow_the_previous_epochs_predictions():
    examples = AdversarialExamples(REAT, [40, 20, 10, 6])
    examples.start_epoch("cpu")
    first = examples.inner_weights.copy()
    # every adversarial example of the epoch predicted as class 0
    examples.observe(torch.tensor([[5.0, 0, 0, 0]] * 30), torch.zeros(30, dtype=torch.long))
    row = examples.end_epoch()
    assert row["adversarial_predicted_0"] == 30 and row["adversarial_predicted_3"] == 0
    examples.start_epoch("cpu")
    # a class that drew every adversarial prediction gets the smallest weight; one that
    # drew none (a_k = 0, E_k = 0) the largest
    assert examples.inner_weights.argmin() == 0
    assert examples.inner_weights[0] < first[0]
    assert examples.inner_weights[1:] == pytest.approx(np.full(3, examples.inner_weights[1]))
    assert examples.inner_weights.sum() == pytest.approx(4)


def test_effective_number_weights_stay_those_of_the_training_counts():
    examples = AdversarialExamples(
        {**PGD_AT, "inner_loss": {"name": "ce", "weights": "effective_number"}}, [40, 20, 10, 6]
    )
    examples.start_epoch("cpu")
    examples.observe(torch.tensor([[5.0, 0, 0, 0]] * 30), torch.zeros(30, dtype=torch.long))
    examples.end_epoch()
    examples.start_epoch("cpu")
    assert examples.inner_weights == pytest.approx(rbl_class_weights([40, 20, 10, 6]))


def test_a_margin_inner_loss_cannot_take_rbl_weights():
    with pytest.raises(ValueError, match="cannot take class weights"):
        AdversarialExamples({**PGD_AT, "inner_loss": {"name": "cw", "weights": "rbl"}}, [4, 2])


def test_tail_loss_adds_the_code_form_and_subtracts_the_paper_form():
    torch.manual_seed(0)
    counts = [120, 86, 61, 44, 31, 22, 16, 11, 8, 6]
    logits, features = torch.randn(32, 10), torch.randn(32, 16)
    labels = torch.arange(32) % 10
    base = BalancedSoftmaxLoss(counts)
    omega = torch.tensor(tail_class_weights(counts), dtype=torch.float32)
    is_tail = torch.as_tensor(tail_classes(counts))
    code = tail_term_code(features, labels, omega, is_tail)
    paper = tail_term_paper(features, labels, omega, is_tail, scale=5.0)
    assert code.abs() > 1e-4 and paper.abs() > 1e-3
    plain = base(logits, labels)
    added = TailFeatureMarginLoss(base, counts, 0.5, "code")(logits, labels, features=features)
    taken = TailFeatureMarginLoss(base, counts, 0.5, "paper", scale=5.0)(
        logits, labels, features=features
    )
    assert added.item() == pytest.approx((plain + 0.5 * code).item(), rel=1e-6)
    assert taken.item() == pytest.approx((plain - 0.5 * paper).item(), rel=1e-6)
    with pytest.raises(ValueError, match="features"):
        TailFeatureMarginLoss(base, counts)(logits, labels)
    with pytest.raises(ValueError, match="form"):
        TailFeatureMarginLoss(base, counts, form="subtract")


def test_counts_kl_matches_the_label_kl():
    labels = np.array([0, 0, 0, 1, 2, 2])
    assert counts_kl_to_uniform(np.bincount(labels, minlength=4)) == pytest.approx(
        kl_to_uniform(labels, 4)
    )
    assert counts_kl_to_uniform([5, 5, 5, 5]) == pytest.approx(0.0, abs=1e-9)
    assert counts_kl_to_uniform([20, 0, 0, 0]) == pytest.approx(np.log(4), rel=1e-3)


def _robustness_file(path, classifier, train_counts, adversarial_to):
    """A threat file whose PGD examples all land in class ``adversarial_to``."""
    y = np.repeat(np.arange(4), 5)
    attacks = {
        "clean": robust_metrics(y, y, y, train_counts),
        "pgd20": robust_metrics(y, y, np.full_like(y, adversarial_to), train_counts),
    }
    data = {
        "classifier": classifier,
        "dataset": "blobs",
        "subset": "lt",
        "threat": "linf16",
        "norm": "linf",
        "eps": 16 / 255,
        "eps_label": "16/255",
        "class_names": list("abcd"),
        "train_counts": train_counts,
        "attacks": attacks,
    }
    path.write_text(json.dumps(data))
    return path


def _training_files(folder, predicted_per_epoch, counts=(40, 20, 10, 6)):
    folder.mkdir(parents=True)
    rows = [
        {
            "epoch": e + 1,
            "train_accuracy": 0.9 - 0.3 * e,
            **{f"adversarial_predicted_{k}": c for k, c in enumerate(p)},
        }
        for e, p in enumerate(predicted_per_epoch)
    ]
    pd.DataFrame(rows).to_csv(folder / "log.csv", index=False)
    meta = {"class_counts": list(counts), "class_names": list("abcd")}
    (folder / "meta.json").write_text(json.dumps(meta))
    return folder / "log.csv", folder / "meta.json"


def test_adversarial_training_table_joins_robustness_and_training(tmp_path):
    counts = [40, 20, 10, 6]
    log, _ = _training_files(tmp_path / "reat", [[76, 0, 0, 0], [19, 19, 19, 19]])
    files = [
        _robustness_file(tmp_path / "reat.json", "reat", counts, adversarial_to=3),
        _robustness_file(tmp_path / "ce.json", "ce", counts, adversarial_to=0),
    ]
    replicates = {"reat": {"method": "reat", "seed": 0}, "ce": {"method": "ce", "seed": 0}}
    out = tmp_path / "table.csv"
    table = adversarial_training_table(
        files, [log], out, "x", replicates, out_summary=tmp_path / "summary.csv"
    )
    reat = table[table["classifier"] == "reat"].set_index("attack")
    ce = table[table["classifier"] == "ce"].set_index("attack")
    assert (reat["training"] == "adversarial").all() and (ce["training"] == "standard").all()
    # epoch 1 all in class 0 (KL log 4), epoch 2 uniform (KL 0); tail = class 3 alone
    assert reat.loc["pgd20", "train_adversarial_kl_first"] == pytest.approx(np.log(4), rel=1e-3)
    assert reat.loc["pgd20", "train_adversarial_kl_last"] == pytest.approx(0, abs=1e-6)
    assert reat.loc["pgd20", "train_adversarial_tail_share_last"] == pytest.approx(0.25)
    # REAT's premise: the training adversarial accuracy, and the head's share of the
    # predictions beyond its share of the labels (head = class 0, 40 of 76 labels)
    assert reat.loc["pgd20", "train_adversarial_accuracy_first"] == pytest.approx(0.9)
    assert reat.loc["pgd20", "train_adversarial_accuracy_last"] == pytest.approx(0.6)
    assert reat.loc["pgd20", "train_adversarial_head_excess_first"] == pytest.approx(1 - 40 / 76)
    assert reat.loc["pgd20", "train_adversarial_head_excess_last"] == pytest.approx(0.25 - 40 / 76)
    assert ce["train_adversarial_kl_last"].isna().all()
    # every PGD example in one class: robust only where that is the true class
    assert reat.loc["pgd20", "tail_accuracy"] == 1.0 and reat.loc["pgd20", "head_accuracy"] == 0
    assert reat.loc["pgd20", "test_prediction_kl"] == pytest.approx(np.log(4), rel=1e-3)
    assert reat.loc["clean", "test_prediction_kl"] == pytest.approx(0, abs=1e-6)
    summary = pd.read_csv(tmp_path / "summary.csv")
    assert set(summary["training"]) == {"adversarial", "standard"}
    assert len(summary) == 4


def test_adversarial_prediction_figure_averages_seeds(tmp_path):
    first = _training_files(tmp_path / "s0", [[4, 0, 0, 0], [0, 0, 0, 4]])
    second = _training_files(tmp_path / "s1", [[0, 4, 0, 0], [0, 0, 0, 4]])
    out = tmp_path / "figure.png"
    drawn = adversarial_training_figure(
        [first[0], second[0]], [first[1], second[1]], out, ["reat", "reat"]
    )
    assert out.stat().st_size > 10_000
    assert drawn["reat"] == pytest.approx(np.array([[0.5, 0.5, 0, 0], [0, 0, 0, 1]]))


def test_a_standard_log_is_not_drawn_as_adversarial_training(tmp_path):
    folder = tmp_path / "ce"
    folder.mkdir()
    pd.DataFrame({"epoch": [1], "train_loss": [0.5]}).to_csv(folder / "log.csv", index=False)
    (folder / "meta.json").write_text(json.dumps({"class_counts": [1], "class_names": ["a"]}))
    with pytest.raises(DataFileError, match="not adversarial training"):
        adversarial_training_figure(
            [folder / "log.csv"], [folder / "meta.json"], tmp_path / "f.png", ["ce"]
        )


def test_rbl_class_weights_do_not_change_sign_pgd_examples():
    """RBL scales each sample's inner cross-entropy by its class's weight, a positive
    factor per sample: L-inf PGD steps along the gradient's sign, and L2 PGD along the
    per-sample normalised gradient, so neither changes (up to rounding). The README
    reports this of REAT's RBL as the paper and its code define it."""
    torch.manual_seed(0)
    model = build_classifier(
        {
            "name": "small_cnn",
            "width": 8,
            "num_classes": 10,
            "channels": 1,
            "mean": [0.5],
            "std": [0.5],
        }
    ).eval()
    x, y = torch.rand(128, 1, 16, 16) * 2 - 1, torch.randint(0, 10, (128,))
    weights = torch.tensor(rbl_class_weights([120, 86, 61, 44, 31, 22, 16, 11, 8, 6]))
    assert weights.max() / weights.min() > 10
    for norm, tolerance in (("linf", 0.0), ("l2", 1e-3)):
        plain = PGD(0.12, 10, 0.03, norm, random_start=False)(model, x, y)
        weighted = PGD(
            0.12, 10, 0.03, norm, random_start=False, loss=weighted_cross_entropy(weights)
        )(model, x, y)
        assert (plain - weighted).abs().max() <= tolerance, norm
        moved = PGD(0.12, 10, 0.03, norm, random_start=False, loss=cw_margin)(model, x, y)
        assert (plain - moved).abs().max() > 0.01  # another inner loss does move them


@pytest.mark.parametrize(
    "loss, reweighting",
    [
        ({"name": "ce"}, {"name": "class_balanced", "beta": 0.999}),
        ({"name": "focal", "gamma": 1.0}, {"name": "none"}),
        ({"name": "ldam", "max_margin": 0.5, "scale": 30}, {"name": "drw", "start_epoch": 1}),
    ],
)
def test_pgd_training_takes_every_long_tail_loss(toy, tmp_path, loss, reweighting):
    cfg = {**AT_CFG, "epochs": 2, "loss": loss, "reweighting": reweighting}
    if loss["name"] == "ldam":
        cfg["arch"] = {**cfg["arch"], "normed_head": True}
    run(toy, tmp_path / "run", cfg={**cfg, "adversarial": REAT})
    log = pd.read_csv(tmp_path / "run" / "log.csv")
    assert np.isfinite(log["train_loss"]).all()
    assert (_counts(log, "adversarial_predicted_").sum(1) == 76).all()
    if reweighting["name"] == "drw":
        assert log["reweighted"].tolist() == [False, True]


def test_the_schema_offers_what_the_trainer_builds():
    from advtail.config import load_schema
    from advtail.training.adversarial import INNER_LOSSES, INNER_WEIGHTS, TRAINING_ATTACKS
    from conftest import SCHEMA

    block = load_schema(SCHEMA)["$defs"]["classifier"]["properties"]["adversarial"]
    inner = block["properties"]["inner_loss"]["properties"]
    assert tuple(block["properties"]["attack"]["enum"]) == TRAINING_ATTACKS
    assert set(inner["name"]["enum"]) == set(INNER_LOSSES)
    assert tuple(inner["weights"]["enum"]) == INNER_WEIGHTS
    with pytest.raises(ValueError, match="unknown attack 'apgd'"):
        AdversarialExamples({**PGD_AT, "attack": "apgd"}, [4, 2])
