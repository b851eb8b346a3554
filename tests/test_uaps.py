"""Universal adversarial perturbations: the patches prior, the entropy regularizer and
generator snapshots, GAP's generator, budget and fooling loss, skip-gradient, the three
crafting methods (DeepFool's against ART's), fooling metrics and bad inputs."""

import random

import numpy as np
import pytest
import torch
from advtail.attacks.gradient import project
from advtail.attacks.universal import (
    craft_generative_perturbation,
    deepfool_universal_perturbation,
    fooling_loss,
    fooling_targets,
    random_sign_perturbation,
    skip_gradient,
)
from advtail.data.sources import build_splits, cut_patches
from advtail.errors import DataFileError
from advtail.losses.class_balancing import ActivationMaximizationRegularizer, softmax_entropy
from advtail.losses.gan import build_gan_objective
from advtail.metrics.uaps import class_coverage, fooling_metrics
from advtail.nets.classifiers import build_classifier, residual_branch_ends
from advtail.nets.discriminators import DCGANDiscriminator
from advtail.nets.gans import DCGANGenerator
from advtail.nets.inference import to_model_input
from advtail.nets.perturbations import UniversalPerturbationGenerator, scale_to_budget
from advtail.stages.craft_uap import load_perturbation
from advtail.training.gan import GANTrainer

PATCHES = {
    "source": "patches",
    "image_size": 16,
    "channels": 1,
    "count": 120,
    "split_seed": 0,
    "min_scale": 0.1,
    "max_scale": 0.5,
    "test_fraction": 0.2,
    "val_per_class": 0,
}


def test_patches_are_seeded_grey_photo_crops():
    splits = build_splits("patches", PATCHES)
    assert {k: len(v.images) for k, v in splits.items()} == {"train": 96, "val": 0, "test": 24}
    train = splits["train"]
    assert train.images.shape[1:] == (16, 16, 1) and train.class_names == ["patch"]
    assert (train.labels == 0).all()
    again = build_splits("patches", PATCHES)["train"]
    assert np.array_equal(train.images, again.images)
    other = build_splits("patches", {**PATCHES, "split_seed": 1})["train"]
    assert not np.array_equal(train.images, other.images)
    # photographs, not noise: neighbouring pixels correlate, and patches differ
    x = train.images[..., 0].astype(float)
    assert np.corrcoef(x[:, :, :-1].ravel(), x[:, :, 1:].ravel())[0, 1] > 0.5
    assert x.reshape(len(x), -1).mean(1).std() > 5


def test_patch_scale_sets_the_crop_side():
    # a photo whose left half is black, right half white: a small patch is mostly one
    # colour, a patch of the whole shorter side mixes both
    photo = np.zeros((100, 200, 3), dtype=np.uint8)
    photo[:, 100:] = 255
    small = cut_patches([photo], 200, 8, 1, 0, 0.05, 0.05)
    whole = cut_patches([photo], 50, 8, 1, 0, 1.0, 1.0)
    pure = lambda p: ((p < 10) | (p > 245)).mean()  # noqa: E731
    assert pure(small) > 0.9
    assert pure(whole) < pure(small)


class Linear(torch.nn.Module):
    """A fixed linear victim on 8x8 grey images, 4 classes."""

    def __init__(self, seed=0):
        super().__init__()
        torch.manual_seed(seed)
        self.layer = torch.nn.Linear(64, 4)

    def forward(self, x):
        return self.layer(x.flatten(1))


def test_entropy_regularizer_is_the_mean_softmax_entropy():
    logits = torch.tensor([[0.0, 0.0, 0.0, 0.0], [50.0, 0.0, 0.0, 0.0]])
    assert torch.allclose(
        softmax_entropy(logits), torch.tensor([float(np.log(4.0)), 0.0]), atol=1e-6
    )
    victim = Linear()
    reg = ActivationMaximizationRegularizer(victim, 4, weight=2.0)
    images = torch.rand(16, 1, 8, 8, requires_grad=True) * 2 - 1
    images.retain_grad()
    term = reg(images)
    expected = 2.0 * softmax_entropy(victim(images)).mean()
    assert torch.allclose(term, expected)
    term.backward()
    assert images.grad is not None and images.grad.abs().sum() > 0  # reaches the generator
    assert all(p.grad is None for p in victim.parameters())  # the victim is frozen
    row = reg.end_cycle()
    predicted = victim(images).argmax(1)
    assert row["classes_covered"] == len(set(predicted.tolist()))
    assert sum(row[f"share_{k}"] for k in range(4)) == pytest.approx(1.0)
    assert reg.end_cycle()["classes_covered"] == 0  # a new cycle starts empty


def test_lower_entropy_is_rewarded():
    victim = Linear()
    reg = ActivationMaximizationRegularizer(victim, 4)
    x = torch.zeros(1, 1, 8, 8)
    w = victim.layer.weight[0].detach().view(1, 1, 8, 8)
    # moving the image along class 0's weights makes the victim surer, the term smaller
    assert float(reg(x + 0.5 * w.sign())) < float(reg(x))


GAN_CFG = {
    "steps": 6,
    "batch_size": 8,
    "d_steps": 1,
    "seed": 5,
    "optimizer": {"lr_g": 2e-4, "lr_d": 2e-4, "betas": [0.5, 0.999]},
    "cycle_steps": 2,
    "snapshots": 2,
    "log_every": 1,
    "checkpoint_every": 2,
}


def _prior_trainer():
    torch.manual_seed(0)
    G = DCGANGenerator(resolution=8, channels=1, latent_dim=8, width=4)
    D = DCGANDiscriminator(resolution=8, channels=1, width=4)
    victim = Linear()
    return GANTrainer(
        G,
        D,
        build_gan_objective({"name": "relativistic"}),
        GAN_CFG,
        torch.device("cpu"),
        regularizers=[ActivationMaximizationRegularizer(victim, 4)],
    )


def test_gan_keeps_the_generators_of_the_last_cycles_and_resumes_them(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, (40, 8, 8, 1), dtype=np.uint8)
    labels = np.zeros(40, dtype=np.int64)
    whole = _prior_trainer()
    whole.fit(images, labels, tmp_path / "a.pt", "fp")
    assert [s["step"] for s in whole.snapshots] == [4, 6]
    last = whole.final_generator().state_dict()
    assert all(torch.equal(last[k], v) for k, v in whole.snapshots[-1]["state_dict"].items())
    assert not all(torch.equal(whole.snapshots[0]["state_dict"][k], v) for k, v in last.items())
    assert len(whole.cycles) == 3 and "classes_covered" in whole.cycles[0]

    class Stop(Exception):
        pass

    def stop(step, row):
        if step == 4:  # after the checkpoint of step 4 (which holds one snapshot)
            raise Stop

    first = _prior_trainer()
    with pytest.raises(Stop):
        first.fit(images, labels, tmp_path / "b.pt", "fp", on_step_end=stop)
    second = _prior_trainer()
    second.fit(images, labels, tmp_path / "b.pt", "fp")
    assert [s["step"] for s in second.snapshots] == [4, 6]
    for a, b in zip(whole.snapshots, second.snapshots, strict=True):
        assert all(torch.equal(a["state_dict"][k], b["state_dict"][k]) for k in a["state_dict"])


def test_scale_to_budget_caps_each_channel():
    delta = torch.tensor([[[[0.5, -2.0]], [[0.01, 0.02]]]])  # (1, 2, 1, 2)
    out = scale_to_budget(delta, 0.1)
    assert torch.allclose(out[0, 0], torch.tensor([[0.025, -0.1]]))
    assert torch.equal(out[0, 1], delta[0, 1])  # already inside: unchanged


def test_universal_generator_gives_one_perturbation_within_budget():
    maker = UniversalPerturbationGenerator(3, 16, eps=0.05, width=8, blocks=2, seed=3)
    with torch.no_grad():
        delta = maker()
    assert delta.shape == (1, 3, 16, 16)
    assert float(delta.abs().max()) <= 0.05 + 1e-7
    with torch.no_grad():
        assert torch.allclose(maker(), delta)  # fixed noise: the same perturbation
    other = UniversalPerturbationGenerator(3, 16, eps=0.05, width=8, blocks=2, seed=4)
    assert not torch.equal(other.noise, maker.noise)
    with pytest.raises(ValueError, match="multiple of 4"):
        UniversalPerturbationGenerator(1, 10, eps=0.1)


def test_fooling_loss_targets_the_least_likely_class():
    logits = torch.tensor([[3.0, 1.0, -2.0], [0.0, -1.0, 5.0]])
    targets = fooling_targets(logits, None)
    assert targets.tolist() == [2, 1]
    assert fooling_targets(logits, 0).tolist() == [0, 0]
    expected = torch.log(torch.nn.functional.cross_entropy(logits, targets))
    assert torch.allclose(fooling_loss(logits, targets), expected)


def _resnet(seed=0):
    torch.manual_seed(seed)
    arch = {"name": "resnet32", "num_classes": 4, "channels": 1, "mean": [0.5], "std": [0.5]}
    return build_classifier(arch).eval()


def test_skip_gradient_scales_the_residual_branches_only():
    model = _resnet()
    assert len(residual_branch_ends(model)) == 15  # 3 stages of 5 basic blocks
    x = torch.rand(2, 1, 8, 8) * 2 - 1

    def grad(alpha):
        inp = x.clone().requires_grad_(True)
        with skip_gradient(model, alpha):
            model(inp)[:, 0].sum().backward()
        return inp.grad

    plain, same, skipped = grad(None), grad(1.0), grad(0.5)
    assert torch.allclose(plain, same, atol=1e-6)
    assert not torch.allclose(plain, skipped, atol=1e-4)
    assert torch.allclose(grad(None), plain)  # hooks removed after the block
    with torch.no_grad():  # the forward pass is unchanged
        with skip_gradient(model, 0.5):
            assert torch.allclose(model(x), _resnet()(x), atol=1e-6)
    with pytest.raises(ValueError, match="residual"):
        with skip_gradient(Linear(), 0.5):
            pass


def _images(n=200, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, 8, 8, 1), dtype=np.uint8)


def _fooling_rate(victim, images, delta):
    x = to_model_input(torch.as_tensor(images))
    with torch.no_grad():
        clean = victim(x).argmax(1)
        perturbed = victim((x + delta).clamp(-1, 1)).argmax(1)
    return float((clean != perturbed).float().mean())


def test_gap_and_deepfool_fool_more_than_random_noise():
    victim = Linear()
    images, eps = _images(), 0.2
    gap, rows = craft_generative_perturbation(
        victim,
        images,
        eps,
        steps=60,
        batch_size=50,
        lr=1e-3,
        width=8,
        blocks=1,
        seed=0,
        log_every=4,
    )
    assert len(rows) == 15 and rows[-1]["fooling_loss"] < rows[0]["fooling_loss"]
    assert float(gap.abs().max()) <= eps + 1e-6
    deepfool, df_rows = deepfool_universal_perturbation(victim, images[:100], eps, max_epochs=3)
    assert float(deepfool.abs().max()) <= eps + 1e-6
    noise = random_sign_perturbation((1, 1, 8, 8), eps, seed=0)
    assert torch.allclose(noise.abs(), torch.full_like(noise, eps)) and (noise > 0).any()
    held_out = _images(seed=1)  # universal: it fools images it never saw
    rates = {
        name: _fooling_rate(victim, held_out, delta)
        for name, delta in (("gap", gap), ("deepfool", deepfool), ("noise", noise))
    }
    assert rates["gap"] > rates["noise"] + 0.2
    assert rates["deepfool"] > rates["noise"] + 0.2


class ZeroOneInput(torch.nn.Module):
    """The victim on the [0, 1] scale: ART's DeepFool multiplies its step by the width of
    the clip range, so on [0, 1] it takes the minimal step, as ours on [-1, 1] does."""

    def __init__(self, victim):
        super().__init__()
        self.victim = victim

    def forward(self, x):
        return self.victim(x * 2 - 1)


def test_deepfool_uap_agrees_with_the_adversarial_robustness_toolbox():
    pytest.importorskip("art")
    from art.attacks.evasion import UniversalPerturbation
    from art.estimators.classification import PyTorchClassifier

    victim = Linear()
    images, eps = _images(120), 0.3  # eps on the [-1, 1] scale
    ours, _ = deepfool_universal_perturbation(
        victim, images, eps, max_epochs=4, target_fooling_rate=0.8
    )
    x01 = images.transpose(0, 3, 1, 2).astype(np.float32) / 255.0
    wrapped = PyTorchClassifier(
        ZeroOneInput(victim), torch.nn.CrossEntropyLoss(), (1, 8, 8), 4, clip_values=(0.0, 1.0)
    )
    attack = UniversalPerturbation(
        wrapped,
        attacker="deepfool",
        attacker_params={"verbose": False, "epsilon": 0.02},  # our overshoot
        delta=0.2,
        max_iter=4,
        eps=eps / 2,
        norm=np.inf,
        verbose=False,
    )
    random.seed(0)  # ART shuffles with Python's random
    attack.generate(x01)
    theirs = torch.as_tensor(attack.noise).float() * 2  # on the [-1, 1] scale
    assert float(theirs.abs().max()) <= eps + 1e-5
    held_out = _images(seed=2)
    ours_rate = _fooling_rate(victim, held_out, ours)
    theirs_rate = _fooling_rate(victim, held_out, theirs)
    print("fooling rates, ours and ART:", ours_rate, theirs_rate)
    assert abs(ours_rate - theirs_rate) < 0.15, (ours_rate, theirs_rate)
    assert min(ours_rate, theirs_rate) > 0.3


def test_project_onto_the_ball():
    v = torch.tensor([[3.0, -4.0]])
    assert torch.equal(project(v, 1.0, "linf"), torch.tensor([[1.0, -1.0]]))
    assert torch.allclose(project(v, 1.0, "l2"), torch.tensor([[0.6, -0.8]]))


def test_fooling_metrics_known_vectors():
    y = np.array([0, 1, 2, 3, 0, 1])
    clean = np.array([0, 1, 2, 3, 1, 1])
    perturbed = np.array([0, 2, 2, 0, 1, 1])
    counts = np.array([40, 20, 10, 5])
    m = fooling_metrics(y, clean, perturbed, counts)
    assert m["fooling_rate"] == pytest.approx(2 / 6)
    assert m["clean_accuracy"] == pytest.approx(5 / 6)
    assert m["accuracy"] == pytest.approx(3 / 6)
    assert m["per_class_fooling_rate"] == pytest.approx([0.0, 0.5, 0.0, 1.0])
    assert m["per_class_accuracy"] == pytest.approx([0.5, 0.5, 1.0, 0.0])
    assert m["predicted_counts"] == [2, 2, 2, 0]
    assert m["group_fooling_rate"]["tail"] == pytest.approx(1.0)


def test_class_coverage():
    c = class_coverage([0, 3, 3, 1], 5)
    assert c == {"classes_covered": 3, "class_counts": [1, 1, 0, 2, 0]}


@pytest.mark.bad_input
def test_a_perturbation_of_the_wrong_shape_names_its_file(tmp_path):
    path = tmp_path / "perturbation.npy"
    np.save(path, np.zeros((32, 32, 3), dtype=np.float32))
    with pytest.raises(DataFileError) as info:
        load_perturbation(path, 16, 1)
    assert str(path) in str(info.value) and "(16, 16, 1)" in str(info.value)
    np.save(path, np.full((16, 16, 1), 0.5, dtype=np.float32))
    with pytest.raises(DataFileError, match="exceeds the budget"):
        load_perturbation(path, 16, 1, eps01=0.1)
    path.write_text("not an array")
    with pytest.raises(DataFileError, match="not a perturbation array"):
        load_perturbation(path, 16, 1)


@pytest.mark.bad_input
def test_a_prior_needs_only_the_victims_image_form(tmp_path):
    from advtail.data.arrays import ImageSet
    from advtail.nets.classifiers import check_classifier_fits

    payload = {
        "arch": {"channels": 1, "num_classes": 10},
        "image_size": 16,
        "class_names": list("0123456789"),
    }
    prior = ImageSet(
        np.zeros((4, 16, 16, 1), dtype=np.uint8), np.zeros(4, dtype=np.int64), ["patch"]
    )
    check_classifier_fits("victim.pt", payload, tmp_path / "prior.npz", prior, form_only=True)
    with pytest.raises(DataFileError, match="classes 1"):
        check_classifier_fits("victim.pt", payload, tmp_path / "prior.npz", prior)
    larger = ImageSet(
        np.zeros((4, 32, 32, 1), dtype=np.uint8), np.zeros(4, dtype=np.int64), ["patch"]
    )
    with pytest.raises(DataFileError, match="image size 32"):
        check_classifier_fits("victim.pt", payload, tmp_path / "prior.npz", larger, form_only=True)


@pytest.mark.bad_input
def test_a_target_class_the_victim_lacks_is_a_config_error(tmp_path):
    from advtail.errors import ConfigError
    from advtail.nets.files import save_model
    from advtail.stages.craft_uap import craft_uap

    arch = {"name": "small_cnn", "num_classes": 4, "channels": 1, "mean": [0.5], "std": [0.5]}
    victim = tmp_path / "model.pt"
    save_model(victim, build_classifier({**arch, "width": 4}), {**arch, "width": 4}, image_size=8)
    cfg = {
        "eps": "32/255",
        "gap": {"steps": 1, "batch_size": 4, "lr": 1e-3, "width": 4, "blocks": 1, "target": 4},
    }
    from advtail.data.arrays import ImageSet, save_image_set

    crafting = tmp_path / "crafting.npz"
    save_image_set(crafting, ImageSet(_images(8), np.zeros(8, dtype=np.int64), ["patch"]))
    with pytest.raises(ConfigError, match="uaps.gap.target"):
        craft_uap(
            "gap", cfg, victim, tmp_path / "v.npy", tmp_path / "m.json", crafting, device="cpu"
        )
    cfg["gap"]["target"] = 3  # a class it has: the perturbation and its meta are written
    meta = craft_uap(
        "gap", cfg, victim, tmp_path / "v.npy", tmp_path / "m.json", crafting, device="cpu"
    )
    assert meta["crafting_images"] == 8 and np.load(tmp_path / "v.npy").shape == (8, 8, 1)


@pytest.mark.bad_input
def test_a_perturbation_of_another_dtype_names_its_file(tmp_path):
    path = tmp_path / "perturbation.npy"
    for array in (np.full((16, 16, 1), "a"), np.zeros((16, 16, 1), dtype=np.int64)):
        np.save(path, array)
        with pytest.raises(DataFileError, match="dtype") as info:
            load_perturbation(path, 16, 1)
        assert str(path) in str(info.value)


@pytest.mark.bad_input
def test_uap_table_checks_every_sidecar_and_the_configured_budget(tmp_path):
    """A meta that is a list, lacks eps or has eps 'abc' is one error naming the file; a
    perturbation crafted at another budget than the configured one is refused even when
    its meta claims it (its array is then held to the configured budget by
    load_perturbation); all before any model is loaded."""
    from advtail.stages.uap_evaluation import uap_tables

    delta = tmp_path / "perturbation.npy"
    np.save(delta, np.full((16, 16, 1), 4 * 32 / 255, dtype=np.float32))
    meta = tmp_path / "meta.json"

    def table(eps="32/255"):
        return uap_tables(
            [delta],
            [meta],
            [0],
            ["victim"],
            ["random"],
            ["absent.pt"],
            "absent.npz",
            tmp_path / "t.csv",
            tmp_path / "p.csv",
            tmp_path / "s.csv",
            eps=eps,
        )

    for text, words in (
        ("[1, 2]", "JSON object"),
        ('{"method": "random"}', "no 'eps'"),
        ('{"eps": "abc"}', "not a budget"),
        ('{"eps": "128/255"}', "the config's uaps.eps is 32/255"),
    ):
        meta.write_text(text)
        with pytest.raises(DataFileError, match=words) as info:
            table()
        assert str(meta) in str(info.value)


def test_uap_budget_sweep_rows_are_each_budgets_own_fooling_rate(tmp_path):
    """The perturbation claims' premise sweep: a row per budget and victim, the fooling
    rate of the perturbation crafted at that budget on its own victim (as computed
    directly), sorted by budget, with its figure; a perturbation whose meta names another
    budget is refused, naming its file."""
    from advtail.data.arrays import ImageSet, save_image_set
    from advtail.nets.files import save_model
    from advtail.stages.craft_uap import craft_uap
    from advtail.stages.uap_evaluation import perturbed_predictions, uap_budget_sweep

    arch = {"name": "small_cnn", "num_classes": 4, "channels": 1, "mean": [0.5], "std": [0.5]}
    torch.manual_seed(0)
    model = build_classifier({**arch, "width": 4})
    victim = tmp_path / "victim.pt"
    save_model(victim, model, {**arch, "width": 4}, image_size=8, class_counts=[4, 3, 2, 1])
    test = tmp_path / "test.npz"
    labels = np.arange(200, dtype=np.int64) % 4
    save_image_set(test, ImageSet(_images(200), labels, ["a", "b", "c", "d"]))
    budgets = ["8/255", "64/255"]
    files = {}
    for budget in budgets:
        out = tmp_path / budget.replace("/", "_")
        out.mkdir()
        craft_uap("random", {"eps": budget}, victim, out / "p.npy", out / "m.json", device="cpu")
        files[budget] = out
    paths = [files[b] / "p.npy" for b in reversed(budgets)]  # order follows budgets
    metas = [files[b] / "m.json" for b in reversed(budgets)]
    table = uap_budget_sweep(
        paths,
        metas,
        budgets[::-1],
        ["v"],
        [victim],
        test,
        tmp_path / "t.csv",
        tmp_path / "f.png",
        device="cpu",
    )
    assert table["eps"].tolist() == budgets  # sorted by budget
    for budget, rate in zip(table["eps"], table["fooling_rate"], strict=True):
        delta = np.load(files[budget] / "p.npy")
        clean, perturbed = perturbed_predictions(model.eval(), _images(200), delta, "cpu")
        assert rate == pytest.approx(np.mean(clean != perturbed))
    assert (tmp_path / "f.png").read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(DataFileError, match="crafted at eps 8/255") as info:
        uap_budget_sweep(
            paths[1:],
            metas[1:],
            ["64/255"],
            ["v"],
            [victim],
            test,
            tmp_path / "t.csv",
            tmp_path / "f.png",
            device="cpu",
        )
    assert str(metas[1]) in str(info.value)
