"""Tests that fail when the science is wrong, not only when the code crashes: the GAN
trainer steps both networks with the gradients of the losses the papers write (AC-GAN's
class terms included), the class-balancing regularizer balances, and the classification
accuracy score reads what a classifier trained on the samples can do."""

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from advtail.losses.class_balancing import ClassBalancingRegularizer
from advtail.losses.gan import (
    AuxiliaryClassifierLoss,
    GANObjective,
    SplitClassifierLoss,
    build_gan_objective,
)
from advtail.metrics.generation import kl_to_uniform
from advtail.nets.discriminators import DCGANDiscriminator
from advtail.nets.gans import DCGANGenerator
from advtail.training.gan import GANTrainer

CFG = {
    "steps": 1,
    "batch_size": 8,
    "d_steps": 1,
    "seed": 3,
    "optimizer": {"lr_g": 1e-3, "lr_d": 1e-3, "betas": [0.5, 0.999]},
}


def images_and_labels(n=32):
    rng = np.random.default_rng(1)
    images = torch.as_tensor(rng.integers(0, 256, (n, 8, 8, 1), dtype=np.uint8))
    return images, torch.arange(n) % 4


def test_one_step_follows_the_hand_built_ac_gan_losses():
    torch.manual_seed(0)
    G = DCGANGenerator(resolution=8, channels=1, latent_dim=8, width=4, num_classes=4)
    # no spectral norm: its power iteration makes the weights non-leaf tensors that
    # cannot be copied for the hand-built side
    D = DCGANDiscriminator(resolution=8, channels=1, width=4, head="ac", num_classes=4, sn=False)
    trainer = GANTrainer(
        G,
        D,
        build_gan_objective({"name": "non_saturating"}),
        CFG,
        torch.device("cpu"),
        class_loss=AuxiliaryClassifierLoss(0.7),
    )
    G0, D0 = copy.deepcopy(G), copy.deepcopy(D)
    params_g0 = [p.detach().clone() for p in G.parameters()]
    params_d0 = [p.detach().clone() for p in D.parameters()]
    batches, grads, d_after = {"real": [], "fake": []}, {}, {}

    def recording(name, method):
        def wrapped(*args):
            out = method(*args)
            batches[name].append(out)
            return out

        return wrapped

    trainer.real_batch = recording("real", trainer.real_batch)
    trainer.fake_batch = recording("fake", trainer.fake_batch)

    def capturing(name, optimizer, module):
        step = optimizer.step

        def wrapped(*args, **kwargs):
            grads[name] = [p.grad.detach().clone() for p in module.parameters()]
            out = step(*args, **kwargs)
            if name == "d":
                d_after["model"] = copy.deepcopy(module)
            return out

        return wrapped

    trainer.opt_d.step = capturing("d", trainer.opt_d, D)
    trainer.opt_g.step = capturing("g", trainer.opt_g, G)
    images, labels = images_and_labels()
    trainer.train_step(0, images, labels)

    # both networks moved
    assert all(not torch.equal(a, b) for a, b in zip(params_g0, G.parameters(), strict=True))
    assert any(not torch.equal(a, b) for a, b in zip(params_d0, D.parameters(), strict=True))

    # D: softplus(-D(x)) + softplus(D(G(z))) + 0.7 (CE(real classes) + CE(fake classes))
    ((x_real, y_real),) = batches["real"]
    (z1, y1), (z2, y2) = batches["fake"]
    with torch.no_grad():
        fake = G0(z1, y1)
    d_real, c_real = D0(x_real, None)
    d_fake, c_fake = D0(fake, None)
    loss_d = F.softplus(-d_real).mean() + F.softplus(d_fake).mean()
    loss_d = loss_d + 0.7 * (F.cross_entropy(c_real, y_real) + F.cross_entropy(c_fake, y1))
    expected = torch.autograd.grad(loss_d, list(D0.parameters()))
    for got, want in zip(grads["d"], expected, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)

    # G: softplus(-D(G(z))) + 0.7 CE(class logits of G(z, y), y), through the updated D
    d_fake, c_fake = d_after["model"](G0(z2, y2), None)
    loss_g = F.softplus(-d_fake).mean() + 0.7 * F.cross_entropy(c_fake, y2)
    expected = torch.autograd.grad(loss_g, list(G0.parameters()))
    for got, want in zip(grads["g"], expected, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)


class NoAdversary(GANObjective):
    """Zero adversarial losses: the generator learns from its regularizers alone."""

    name = "none"

    def discriminator_loss(self, real, fake):
        return 0.0 * (real.sum() + fake.sum())

    def generator_loss(self, real, fake):
        return 0.0 * fake.sum()


class LinearClassifier(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.layer = torch.nn.Linear(64, 4)
        with torch.no_grad():  # most images start as class 0: a collapsed generator
            self.layer.weight.mul_(4.0)
            self.layer.bias.copy_(torch.tensor([2.0, 0.0, 0.0, 0.0]))

    def forward(self, x):
        return self.layer(x.flatten(1))


def kl_after_training(lam: float, form: str) -> float:
    torch.manual_seed(0)
    classifier = LinearClassifier()
    G = DCGANGenerator(resolution=8, channels=1, latent_dim=8, width=4)
    D = DCGANDiscriminator(resolution=8, channels=1, width=4)
    regularizer = ClassBalancingRegularizer(classifier, 4, lam=lam, form=form)
    cfg = {**CFG, "steps": 150, "batch_size": 32, "cycle_steps": 10}
    cfg["optimizer"] = {"lr_g": 5e-3, "lr_d": 1e-4, "betas": [0.5, 0.999]}
    trainer = GANTrainer(G, D, NoAdversary(), cfg, torch.device("cpu"), [regularizer])
    images, labels = images_and_labels()
    for step in range(cfg["steps"]):
        trainer.train_step(step, images, labels)
        if (step + 1) % cfg["cycle_steps"] == 0:
            regularizer.end_cycle()
    G.eval()
    with torch.no_grad():
        z = G.sample_latent(2000, torch.Generator().manual_seed(9), torch.device("cpu"))
        predicted = classifier(G(z, None)).argmax(1).numpy()
    return kl_to_uniform(predicted, 4)


@pytest.mark.parametrize("form", ["paper", "code"])
def test_regularizer_balances_a_collapsed_generator(form):
    # lambda 0 leaves the collapsed generator where it is; a large lambda spreads it
    # (with the regularizer's sign flipped it would stay collapsed or collapse further)
    collapsed = kl_after_training(0.0, form)
    balanced = kl_after_training(5.0, form)
    assert collapsed > 0.8
    assert balanced < 0.5 * collapsed


def test_cas_on_separable_data(tmp_path):
    # four classes whose images differ by a bright quadrant: a classifier trained on such
    # "samples" must score near 1 on test images of the same kind, and near chance when
    # the samples' labels are shuffled
    from advtail.data.arrays import ImageSet, save_image_set
    from advtail.stages.classification_accuracy_score import classification_accuracy_score

    rng = np.random.default_rng(0)

    def quadrant_set(n, path, shuffle=False):
        labels = np.arange(n) % 4
        images = rng.integers(0, 40, (n, 8, 8, 1), dtype=np.uint8)
        for k in range(4):
            r, c = divmod(k, 2)
            images[labels == k, 4 * r : 4 * r + 4, 4 * c : 4 * c + 4] += 200
        if shuffle:
            labels = rng.permutation(labels)
        save_image_set(path, ImageSet(images, labels.astype(np.int64), list("abcd"), meta={}))

    quadrant_set(200, tmp_path / "samples.npz")
    quadrant_set(200, tmp_path / "shuffled.npz", shuffle=True)
    quadrant_set(40, tmp_path / "val.npz")
    quadrant_set(200, tmp_path / "test.npz")
    recipe = {
        "arch": {"name": "small_cnn", "width": 8},
        "loss": {"name": "ce"},
        "optimizer": {"name": "sgd", "lr": 0.05, "momentum": 0.9},
        "epochs": 8,
        "batch_size": 32,
        "seed": 0,
    }
    scores = {}
    for name in ("samples", "shuffled"):
        scores[name] = classification_accuracy_score(
            "cas",
            recipe,
            tmp_path / f"{name}.npz",
            tmp_path / "val.npz",
            tmp_path / "test.npz",
            tmp_path / name,
            tmp_path / f"{name}.ckpt",
            device="cpu",
        )["cas_accuracy"]
    assert scores["samples"] > 0.95
    assert scores["shuffled"] < 0.5


# ---------------------------------------------------------------- conditional generators


def quadrant_images(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """8 x 8 images of 4 classes: class k lights quadrant k (uint8 NHWC), with noise."""
    images = np.full((len(labels), 8, 8, 1), 30.0)
    for i, k in enumerate(labels):
        r, c = divmod(int(k), 2)
        images[i, 4 * r : 4 * r + 4, 4 * c : 4 * c + 4] = 220.0
    images += rng.normal(0, 15, images.shape)
    return np.clip(images, 0, 255).astype(np.uint8)


def quadrant_classifier(images: torch.Tensor) -> torch.Tensor:
    """The class of [-1, 1] NCHW images by their brightest quadrant: it separates the
    real quadrant images perfectly."""
    quadrants = F.avg_pool2d(images, 4).flatten(1)  # (N, 4): rows then columns
    return quadrants.argmax(1)


class LabelBlindGenerator(DCGANGenerator):
    """A conditional generator that ignores its labels (always draws with class 0's
    embedding and gains): the control the agreement test must fail on."""

    def forward(self, z, y=None):
        return super().forward(z, torch.zeros_like(y))


def label_agreement_after_training(generator_class, head: str, loss: str, class_loss=None):
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(4), [64, 32, 16, 8])  # a long tail
    images = quadrant_images(labels, rng)
    real = torch.as_tensor(images).permute(0, 3, 1, 2).float() / 127.5 - 1
    assert (quadrant_classifier(real).numpy() == labels).all()  # perfectly separable
    generator = generator_class(
        resolution=8, channels=1, latent_dim=16, width=16, num_classes=4, label_embedding=16
    )
    discriminator = DCGANDiscriminator(resolution=8, channels=1, width=16, head=head, num_classes=4)
    cfg = {**CFG, "steps": 150, "batch_size": 32}
    trainer = GANTrainer(
        generator,
        discriminator,
        build_gan_objective({"name": loss}),
        cfg,
        torch.device("cpu"),
        class_loss=class_loss,
    )
    trainer.images, trainer.labels = torch.as_tensor(images), torch.as_tensor(labels)
    for step in range(cfg["steps"]):
        trainer.train_step(step)
    wanted = torch.arange(400) % 4
    generator.eval()
    with torch.no_grad():
        drawn = generator(torch.randn(400, 16), wanted)
    return float((quadrant_classifier(drawn) == wanted).float().mean())


@pytest.mark.parametrize(
    ("head", "loss", "class_loss"),
    [("projection", "hinge", None), ("ac", "relativistic", SplitClassifierLoss())],
    ids=["cgan_projection", "ac_split"],
)
def test_a_conditional_generator_follows_its_labels(head, loss, class_loss):
    """A few hundred steps on a problem a classifier separates perfectly: the generator
    draws the class it is asked for; a generator that ignores y cannot (chance 0.25)."""
    follows = label_agreement_after_training(DCGANGenerator, head, loss, class_loss)
    blind = label_agreement_after_training(LabelBlindGenerator, head, loss, class_loss)
    assert follows >= 0.9
    assert blind <= 0.5


class QuadrantAnnotator(torch.nn.Module):
    """An annotator of the quadrant images: features are the quadrant means, the head
    their identity (so its label is the brightest quadrant)."""

    def features(self, x):
        return F.avg_pool2d(x, 4).flatten(1)

    def head(self, features):
        return features


class TemplateGenerator(torch.nn.Module):
    """Draws noisy quadrant images: of class y (``follows``), or of a class drawn from z
    whatever y is (the same images overall, blind to the label)."""

    conditional, num_classes, latent_dim = True, 4, 4

    def __init__(self, follows: bool):
        super().__init__()
        self.follows = follows

    def sample_latent(self, n, generator=None, device="cpu"):
        return torch.randn(n, self.latent_dim, generator=generator).to(device)

    def forward(self, z, y):
        k = y if self.follows else z.argmax(1)
        rng = np.random.default_rng(int(z.abs().sum() * 1000) % 2**32)
        images = quadrant_images(k.numpy(), rng)
        return torch.as_tensor(images).permute(0, 3, 1, 2).float() / 127.5 - 1


def test_validation_keeps_the_generator_that_follows_its_labels():
    """The kept-generator score of a conditional GAN sees labels: two generators with the
    same images overall (the same FID), one following y and one blind to it, score
    FID / label agreement, and the blind one's agreement is chance."""
    from advtail.metrics.generation import feature_statistics
    from advtail.training.gan import AnnotatorValidation

    rng = np.random.default_rng(5)
    real = quadrant_images(np.arange(800) % 4, rng)
    annotator = QuadrantAnnotator()
    reference = feature_statistics(
        annotator.features(torch.as_tensor(real).permute(0, 3, 1, 2).float() / 127.5 - 1)
    )
    validate = AnnotatorValidation(annotator, reference, 4, 400, 0, "cpu")
    follows_score, follows = validate(TemplateGenerator(follows=True))
    blind_score, blind = validate(TemplateGenerator(follows=False))
    assert follows["val_label_agreement"] == 1.0
    assert 0.15 < blind["val_label_agreement"] < 0.35
    assert follows_score == pytest.approx(follows["val_fid_annotator"])
    assert blind_score == pytest.approx(blind["val_fid_annotator"] / blind["val_label_agreement"])
    assert blind_score > 2 * follows_score
