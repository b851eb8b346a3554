"""The GAN trainer: every method runs, resume is exact, the NaN guard, cycle statistics."""

import numpy as np
import pytest
import torch
from advtail.losses.class_balancing import ClassBalancingRegularizer
from advtail.losses.gan import AuxiliaryClassifierLoss, build_gan_objective
from advtail.metrics.generation import feature_statistics, frechet_distance, kl_to_uniform
from advtail.nets.discriminators import DCGANDiscriminator
from advtail.nets.gans import DCGANGenerator
from advtail.training.gan import GANTrainer
from advtail.training.loop import DivergenceError

CFG = {
    "steps": 6,
    "batch_size": 8,
    "d_steps": 1,
    "seed": 5,
    "optimizer": {"lr_g": 2e-4, "lr_d": 2e-4, "betas": [0.5, 0.999]},
    "ema": {"decay": 0.9, "start": 2},
    "cycle_steps": 3,
    "log_every": 1,
    "checkpoint_every": 2,
}


# a 4-class small CNN for 8x8 grey images, as stored in a model file's "arch"
TINY_CLASSIFIER = {
    "name": "small_cnn",
    "num_classes": 4,
    "channels": 1,
    "mean": [0.5],
    "std": [0.5],
    "width": 4,
}


def data(n=40, classes=4):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (n, 8, 8, 1), dtype=np.uint8)
    return images, np.arange(n, dtype=np.int64) % classes


class TinyClassifier(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.layer = torch.nn.Linear(64, 4)

    def forward(self, x):
        return self.layer(x.flatten(1))


def trainer(head="none", loss="relativistic", regularize=False, cfg=CFG):
    torch.manual_seed(0)
    conditional = head != "none"
    G = DCGANGenerator(
        resolution=8, channels=1, latent_dim=8, width=4, num_classes=4 if conditional else None
    )
    D = DCGANDiscriminator(
        resolution=8, channels=1, width=4, head=head, num_classes=4 if conditional else None
    )
    regularizers = (
        [ClassBalancingRegularizer(TinyClassifier(), 4, lam=1.0, form="paper")]
        if regularize
        else []
    )
    return GANTrainer(
        G,
        D,
        build_gan_objective({"name": loss}),
        cfg,
        torch.device("cpu"),
        regularizers=regularizers,
        class_loss=AuxiliaryClassifierLoss() if head == "ac" else None,
    )


@pytest.mark.parametrize(
    "head,loss",
    [
        ("none", "relativistic"),
        ("none", "hinge"),
        ("projection", "hinge"),
        ("ac", "non_saturating"),
        ("none", "wgan_gp"),
    ],
)
def test_every_method_trains(tmp_path, head, loss):
    images, labels = data()
    run = trainer(head, loss).fit(images, labels, tmp_path / "ck.pt", "fp")
    assert run.position == 6 and len(run.rows) == 6
    assert all(np.isfinite(r["loss_d"]) and np.isfinite(r["loss_g"]) for r in run.rows)


def test_resume_is_exact(tmp_path):
    images, labels = data()
    whole = trainer(regularize=True)
    whole.fit(images, labels, tmp_path / "a.pt", "fp")

    class Stop(Exception):
        pass

    def stop(step, row):
        if step == 3:  # after the checkpoint of step 4
            raise Stop

    first = trainer(regularize=True)
    with pytest.raises(Stop):
        first.fit(images, labels, tmp_path / "b.pt", "fp", on_step_end=stop)
    second = trainer(regularize=True)
    run = second.fit(images, labels, tmp_path / "b.pt", "fp")
    assert run.resumed_from == 4
    for a, b in zip(
        whole.final_generator().state_dict().values(),
        second.final_generator().state_dict().values(),
        strict=True,
    ):
        assert torch.equal(a, b)
    np.testing.assert_array_equal(
        whole.regularizers[0].tracker.frequency, second.regularizers[0].tracker.frequency
    )


def test_cycles_record_shares_and_frequencies(tmp_path):
    images, labels = data()
    t = trainer(regularize=True)
    t.fit(images, labels, tmp_path / "ck.pt", "fp")
    assert len(t.cycles) == 2  # 6 steps, cycles of 3
    shares = [t.cycles[0][f"share_{k}"] for k in range(4)]
    assert sum(shares) == pytest.approx(1.0)
    # paper form: N^1 = 0.5 * 1 + c, with 3 steps x 8 samples counted
    frequencies = [t.cycles[0][f"N_{k}"] for k in range(4)]
    assert sum(frequencies) == pytest.approx(0.5 * 4 + 24)


class PoisonAfter:
    """A generator regularizer that returns NaN from a given step on."""

    def __init__(self, step):
        self.step, self.calls = step, 0

    def __call__(self, fake):
        self.calls += 1
        return fake.sum() * (float("nan") if self.calls > self.step else 0.0)

    def end_cycle(self):
        return None

    def state_dict(self):
        return {}

    def load_state_dict(self, state):
        pass


def test_nan_guard_keeps_the_last_checkpoint(tmp_path):
    images, labels = data()
    t = trainer()
    t.regularizers = [PoisonAfter(4)]
    with pytest.raises(DivergenceError, match="generator loss became nan in step 5"):
        t.fit(images, labels, tmp_path / "ck.pt", "fp")
    saved = torch.load(tmp_path / "ck.pt", weights_only=True)
    assert saved["position"] == 4


def test_generation_metrics_known_values():
    assert kl_to_uniform([0, 1, 2, 3], 4) == pytest.approx(0.0, abs=1e-9)
    # all samples in one of two classes: log 2 (up to eps)
    assert kl_to_uniform([0, 0, 0, 0], 2) == pytest.approx(np.log(2), abs=1e-3)
    rng = np.random.default_rng(0)
    a = rng.normal(size=(2000, 3))
    mu, sigma = feature_statistics(a)
    assert frechet_distance(mu, sigma, mu, sigma) == pytest.approx(0.0, abs=1e-6)
    # a shift by d adds ||d||^2
    assert frechet_distance(mu, sigma, mu + np.array([3.0, 0, 4.0]), sigma) == pytest.approx(25.0)


def test_train_gan_and_generate_samples_files(tmp_path):
    import json

    import pandas as pd
    from advtail.data.arrays import ImageSet, load_image_set, save_image_set
    from advtail.nets.classifiers import build_classifier
    from advtail.nets.files import save_model
    from advtail.nets.gans import load_generator
    from advtail.stages.fid_reference_stats import annotator_reference_statistics
    from advtail.stages.generate_samples import generate_samples
    from advtail.stages.train_gan import train_gan

    images, labels = data(n=48)
    save_image_set(
        tmp_path / "subset.npz",
        ImageSet(images, labels, list("abcd"), meta={"dataset": "toy", "subset": "s"}),
    )
    arch = dict(TINY_CLASSIFIER)
    save_model(
        tmp_path / "clf.pt",
        build_classifier(arch),
        arch,
        class_names=list("abcd"),
        class_counts=[12] * 4,
        config={"loss": {"name": "ce"}},
    )
    cfg = {
        **CFG,
        "arch": {"name": "sndcgan", "g_width": 4, "d_width": 4, "latent_dim": 8},
        "loss": {"name": "relativistic"},
        "validate_every": 3,
        "validation_samples": 16,
        "regularizer": {"name": "class_balancing", "lambda": 2.0, "form": "code"},
    }
    out = tmp_path / "gan"
    annotator_reference_statistics(
        tmp_path / "subset.npz",
        tmp_path / "stats.npz",
        tmp_path / "clf.pt",
        device="cpu",
    )
    run = train_gan(
        "cbgan",
        cfg,
        tmp_path / "subset.npz",
        tmp_path / "stats.npz",
        out / "generator.pt",
        out / "log.csv",
        out / "cycles.csv",
        out / "meta.json",
        out / "ck.pt",
        in_loop_path=tmp_path / "clf.pt",
        annotator_path=tmp_path / "clf.pt",
        device="cpu",
    )
    assert run.best["position"] in (3, 6)
    log = pd.read_csv(out / "log.csv")
    assert {"val_fid_annotator", "val_kl_uniform", "reg0"} <= set(log.columns)
    assert log["seconds"].is_monotonic_increasing
    cycles = pd.read_csv(out / "cycles.csv")
    assert len(cycles) == 2 and {"N_0", "share_3"} <= set(cycles.columns)
    generator, payload = load_generator(out / "generator.pt")
    assert payload["class_names"] == list("abcd") and not generator.conditional
    assert json.loads((out / "meta.json").read_text())["selected"] == run.best["position"]
    # the kept generator is the one with the lowest logged validation FID
    validated = log.dropna(subset=["val_fid_annotator"])
    assert len(validated) == 2
    assert run.best["position"] == validated.loc[validated["val_fid_annotator"].idxmin(), "step"]
    sidecar = generate_samples(
        out / "generator.pt",
        20,
        out / "samples.npz",
        out / "grid.png",
        labeller_path=tmp_path / "clf.pt",
        device="cpu",
    )
    samples = load_image_set(out / "samples.npz")
    assert samples.images.shape == (20, 8, 8, 1) and samples.images.dtype == np.uint8
    assert sidecar["labels_from"] == "in-loop classifier"
    assert (out / "grid.png").read_bytes()[:4] == b"\x89PNG"


def _annotator_and_sets(tmp_path, n=64):
    from advtail.data.arrays import ImageSet, save_image_set
    from advtail.nets.classifiers import build_classifier
    from advtail.nets.files import save_model

    images, labels = data(n=n)
    for name in ("samples", "reference"):
        save_image_set(
            tmp_path / f"{name}.npz",
            ImageSet(images, labels, list("abcd"), meta={"gan": "g", "dataset": "toy"}),
        )
    arch = dict(TINY_CLASSIFIER)
    torch.manual_seed(0)
    save_model(
        tmp_path / "annotator.pt",
        build_classifier(arch),
        arch,
        classifier="ann",
        class_names=list("abcd"),
        class_counts=[16] * 4,
        config={},
    )


def test_evaluate_samples_against_itself(tmp_path):
    from advtail.stages.evaluate_samples import evaluate_samples
    from advtail.stages.fid_reference_stats import annotator_reference_statistics
    from advtail.stages.tables import gan_table

    _annotator_and_sets(tmp_path)
    annotator_reference_statistics(
        tmp_path / "reference.npz",
        tmp_path / "stats.npz",
        tmp_path / "annotator.pt",
        device="cpu",
    )
    m = evaluate_samples(
        tmp_path / "samples.npz",
        tmp_path / "annotator.pt",
        tmp_path / "stats.npz",
        tmp_path / "metrics.json",
        device="cpu",
    )
    assert m["fid_annotator"] == pytest.approx(0.0, abs=1e-6)
    assert m["fid"] == m["fid_annotator"] and m["inception_score"] == m["is_annotator"]
    assert m["fid_backbone"] == "annotator" and m["annotator"] == "ann"
    assert 1.0 <= m["is_annotator"] <= 4.0  # IS lies between 1 and the number of classes
    assert "fid_inception" not in m
    assert sum(m["class_shares"]) == pytest.approx(1.0)
    shares = np.array(m["class_shares"])
    expected_kl = float(np.sum((shares + 1e-5) * np.log((shares + 1e-5) / (0.25 + 1e-5))))
    assert m["kl_uniform"] == pytest.approx(expected_kl)
    (tmp_path / "meta.json").write_text('{"selected": 3, "wall_time_s": 1.5}')
    (tmp_path / "cas.json").write_text('{"gan": "g", "cas_accuracy": 0.75}')
    table = gan_table(
        [tmp_path / "metrics.json"],
        [tmp_path / "meta.json"],
        tmp_path / "gan_metrics.csv",
        "exp",
        cas_paths=[tmp_path / "cas.json"],
        subsets={"lt": {"imbalance_ratio": 20}, "lab": {"base": "lt"}},
    )
    assert table.loc[0, "selected_step"] == 3 and table.loc[0, "share_a"] == m["class_shares"][0]
    assert table.loc[0, "cas_accuracy"] == 0.75 and table.loc[0, "fid"] == m["fid"]
    assert "fid_inception" not in table.columns
