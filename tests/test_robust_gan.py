"""Rob-GAN and Fast-RobGAN through the one GAN trainer, their class losses, the learning-
rate anneal, the pass count, and the discriminator fine-tuned into a classifier."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from advtail.attacks.gradient import PGD, FreePerturbation
from advtail.losses.gan import (
    SplitClassifierLoss,
    UniformFakeClassLoss,
    build_class_loss,
    build_gan_objective,
    kl_to_uniform_of_logits,
)
from advtail.nets.classifiers import DiscriminatorClassifier, build_classifier
from advtail.nets.discriminators import DCGANDiscriminator
from advtail.nets.gans import DCGANGenerator
from advtail.training.gan import GANTrainer
from advtail.training.loop import DivergenceError
from advtail.training.robust_gan import (
    AttackedRealsUpdate,
    DiscriminatorScores,
    FreeAdversarialUpdate,
    GeneratedAdversarialTerm,
    build_discriminator_update,
    discriminator_real_loss,
)
from advtail.training.schedules import exponential_anneal

CFG = {
    "steps": 4,
    "batch_size": 8,
    "d_steps": 1,
    "seed": 3,
    "optimizer": {"lr_g": 2e-4, "lr_d": 2e-4, "betas": [0.0, 0.9]},
    "log_every": 1,
    "checkpoint_every": 2,
}


def data(n=40, classes=4):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (n, 8, 8, 1), dtype=np.uint8)
    return images, np.arange(n, dtype=np.int64) % classes


def robust_trainer(robust=None, cfg=CFG, loss="hinge", class_loss=None):
    torch.manual_seed(0)
    G = DCGANGenerator(resolution=8, channels=1, latent_dim=8, width=4, num_classes=4)
    D = DCGANDiscriminator(resolution=8, channels=1, width=4, head="ac", num_classes=4, sn=False)
    return GANTrainer(
        G,
        D,
        build_gan_objective({"name": loss}),
        cfg,
        torch.device("cpu"),
        class_loss=build_class_loss(class_loss or {"name": "split"}),
        discriminator_update=build_discriminator_update(robust),
    )


ROBGAN = {"attack": "pgd", "eps": 4 / 255, "steps": 5, "step_size": 1 / 255}
FASTROBGAN = {"attack": "free", "eps": 0.003, "step_size": 0.003, "replays": 2}


@pytest.mark.parametrize(
    "robust,d_steps,passes",
    [
        (None, 5, 10),  # SNGAN: 5 x (real + fake)
        (ROBGAN, 5, 35),  # Rob-GAN: 5 x (5 PGD steps + real + fake)
        (FASTROBGAN, 1, 4),  # Fast-RobGAN: M = 2 replays x (real + fake)
    ],
)
def test_discriminator_passes_per_generator_step(robust, d_steps, passes):
    trainer = robust_trainer(robust, {**CFG, "d_steps": d_steps})
    images, labels = data()
    row = trainer.train_step(0, images, labels)
    assert row["d_forward"] == passes and row["d_backward"] == passes
    # the next step counts afresh: the generator step's own pass is not in the round
    assert trainer.train_step(1)["d_forward"] == passes


def test_robgan_attack_raises_the_real_loss_within_the_budget_with_d_restored():
    trainer = robust_trainer(ROBGAN)
    images, labels = data()
    trainer.images, trainer.labels = torch.as_tensor(images), torch.as_tensor(labels)
    x, y = trainer.real_batch()
    update = trainer.discriminator_update
    assert isinstance(update, AttackedRealsUpdate) and not update.attack.random_start
    x_adv = update.real_examples(trainer, x, y)
    eps = 2 * 4 / 255  # on the [-1, 1] scale
    assert (x_adv - x).abs().max() <= eps + 1e-6 and x_adv.abs().max() <= 1
    loss = discriminator_real_loss(trainer.objective)
    scores = DiscriminatorScores(trainer.D)
    with torch.no_grad():
        assert loss(scores(x_adv), y).mean() > loss(scores(x), y).mean()
    assert trainer.D.training  # the attack ran D in eval mode and restored it


def test_fastrobgan_round_steps_d_m_times_and_keeps_the_perturbation():
    trainer = robust_trainer(FASTROBGAN)
    images, labels = data()
    trainer.train_step(0, images, labels)
    update = trainer.discriminator_update
    assert isinstance(update, FreeAdversarialUpdate)
    delta = update.perturbation.delta.clone()
    assert delta.shape == (8, 1, 8, 8) and delta.abs().max() <= 2 * 0.003 + 1e-7
    # Adam counts its steps: M = 2 discriminator updates per generator step
    state = trainer.opt_d.state[next(iter(trainer.D.parameters()))]
    assert int(state["step"]) == 2
    trainer.train_step(1)
    assert not torch.equal(update.perturbation.delta, delta)  # carried on, not restarted
    assert int(trainer.opt_d.state[next(iter(trainer.D.parameters()))]["step"]) == 4


def test_free_perturbation_normal_init_is_clamped_noise():
    free = FreePerturbation(0.1, init="normal")
    x = torch.zeros(64, 1, 4, 4)
    x_adv = free.apply(x, torch.Generator().manual_seed(0))
    assert free.delta.abs().max() == pytest.approx(0.1)  # N(0, 1) exceeds 0.1 often
    assert (free.delta.abs() < 0.1).any() and torch.equal(x_adv.detach(), free.delta)
    with pytest.raises(ValueError, match="unknown init"):
        FreePerturbation(0.1, init="uniform")


def test_fastrobgan_resume_is_exact(tmp_path):
    images, labels = data()
    whole = robust_trainer(FASTROBGAN)
    whole.fit(images, labels, tmp_path / "a.pt", "fp")
    first = robust_trainer(FASTROBGAN, {**CFG, "steps": 2})
    first.fit(images, labels, tmp_path / "b.pt", "fp")
    resumed = robust_trainer(FASTROBGAN)
    resumed.fit(images, labels, tmp_path / "b.pt", "fp")
    for a, b in zip(whole.G.state_dict().values(), resumed.G.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    assert torch.equal(
        whole.discriminator_update.perturbation.delta,
        resumed.discriminator_update.perturbation.delta,
    )


def test_nan_in_robust_loss_stops_keeping_the_last_checkpoint(tmp_path, monkeypatch):
    trainer = robust_trainer(FASTROBGAN, {**CFG, "steps": 4, "checkpoint_every": 1})
    images, labels = data()
    calls = {"n": 0}
    real_loss = trainer.objective.discriminator_loss

    def failing(real, fake):
        calls["n"] += 1
        value = real_loss(real, fake)
        return value * float("nan") if calls["n"] > 4 else value  # the third step's round

    monkeypatch.setattr(trainer.objective, "discriminator_loss", failing)
    with pytest.raises(DivergenceError, match="discriminator loss became nan in step 3"):
        trainer.fit(images, labels, tmp_path / "last.pt", "fp")
    assert torch.load(tmp_path / "last.pt", weights_only=False)["position"] == 2


def test_exponential_anneal_halves_each_period_and_the_trainer_applies_it():
    assert exponential_anneal(0, 2e-4, 0.5, 100) == 2e-4
    assert exponential_anneal(100, 2e-4, 0.5, 100) == pytest.approx(1e-4)
    assert exponential_anneal(50, 2e-4, 0.5, 100) == pytest.approx(2e-4 / math.sqrt(2))
    cfg = {**CFG, "optimizer": {**CFG["optimizer"], "lr_d": 4e-4, "anneal": {"period": 2}}}
    trainer = robust_trainer(None, cfg)
    images, labels = data()
    for step in range(3):
        trainer.train_step(step, images, labels)
    assert trainer.opt_g.param_groups[0]["lr"] == pytest.approx(2e-4 * 0.5)  # step 2
    assert trainer.opt_d.param_groups[0]["lr"] == pytest.approx(4e-4 * 0.5)


def test_class_losses_known_values():
    logits = torch.log(torch.tensor([[2 / 3, 1 / 3]]))
    thesis = 2 / 3 * math.log(4 / 3) + 1 / 3 * math.log(2 / 3)  # KL(p || U)
    code = 0.5 * math.log(0.5 / (2 / 3)) + 0.5 * math.log(0.5 / (1 / 3))  # KL(U || p)
    assert kl_to_uniform_of_logits(logits, "thesis").item() == pytest.approx(thesis, rel=1e-5)
    assert kl_to_uniform_of_logits(logits, "code").item() == pytest.approx(code, rel=1e-5)
    assert kl_to_uniform_of_logits(torch.zeros(3, 5), "thesis").item() == pytest.approx(0, abs=1e-6)
    real, fake = torch.randn(6, 4), torch.randn(6, 4)
    y = torch.arange(6) % 4
    split = SplitClassifierLoss().discriminator_term(real, y, fake, y)
    assert split.item() == pytest.approx(F.cross_entropy(real, y).item())
    fast = UniformFakeClassLoss(generator_weight=0.2, kl="code")
    expected = F.cross_entropy(real, y) + kl_to_uniform_of_logits(fake, "code")
    assert fast.discriminator_term(real, y, fake, y).item() == pytest.approx(expected.item())
    assert fast.generator_term(fake, y).item() == pytest.approx(
        0.2 * F.cross_entropy(fake, y).item()
    )
    with pytest.raises(ValueError, match="unknown class loss"):
        build_class_loss({"name": "nope"})


@pytest.mark.parametrize("robust", [ROBGAN, FASTROBGAN])
def test_robust_gans_train_finite(robust):
    trainer = robust_trainer(robust, class_loss={"name": "ce_kl"})
    images, labels = data()
    for step in range(3):
        row = trainer.train_step(step, images, labels)
    assert math.isfinite(row["loss_d"]) and math.isfinite(row["loss_g"])


def test_relativistic_loss_has_no_real_term_for_the_attack():
    with pytest.raises(NotImplementedError, match="relativistic"):
        build_gan_objective({"name": "relativistic"}).real_term(torch.zeros(2))


def test_discriminator_classifier_is_the_discriminators_class_head():
    D = DCGANDiscriminator(resolution=8, channels=1, width=4, head="ac", num_classes=4, sn=False)
    arch = {
        "name": "gan_discriminator",
        "num_classes": 4,
        "channels": 1,
        "mean": [0.5],
        "std": [0.5],
        "resolution": 8,
        "width": 4,
    }
    classifier = build_classifier(arch)
    assert isinstance(classifier, DiscriminatorClassifier)
    classifier.load_state_dict({f"discriminator.{k}": v for k, v in D.state_dict().items()})
    x = torch.rand(5, 1, 8, 8) * 2 - 1
    assert torch.allclose(classifier(x), D(x)[1])
    assert classifier.features(x).shape == (5, 8)  # width x 2^(log2(8 / 4))


def test_generated_adversarial_term_is_lambda_times_ce_on_attacked_fakes():
    torch.manual_seed(0)
    G = DCGANGenerator(resolution=8, channels=1, latent_dim=8, width=4, num_classes=4)
    D = DCGANDiscriminator(resolution=8, channels=1, width=4, head="ac", num_classes=4, sn=False)
    model = DiscriminatorScores(D)  # any module of images -> logits will do
    clean = GeneratedAdversarialTerm(G, lambda m, x, y, g: x, 0.5, 4)
    attacked = GeneratedAdversarialTerm(G, PGD(0.2, 3, 0.1, random_start=False), 0.5, 4)
    y = torch.zeros(16, dtype=torch.long)

    def head(x):
        return model(x)[:, 1:]

    head_model = torch.nn.Module()
    head_model.forward = head
    a = clean(head_model, y, torch.Generator().manual_seed(1))
    b = attacked(head_model, y, torch.Generator().manual_seed(1))
    assert b.item() > a.item() > 0  # the same fakes, attacked: a larger loss
    a.backward()
    assert next(D.parameters()).grad is not None
    unconditional = DCGANGenerator(resolution=8, channels=1, latent_dim=8, width=4)
    with pytest.raises(ValueError, match="conditional generator"):
        GeneratedAdversarialTerm(unconditional, None, 0.5, 4)


@pytest.mark.bad_input
def test_finetuning_a_discriminator_of_other_classes_names_the_file(tmp_path):
    from advtail.data.arrays import save_image_set
    from advtail.errors import DataFileError
    from advtail.nets.files import save_model
    from advtail.stages.finetune_discriminator import finetune_discriminator
    from conftest import make_image_set

    D = DCGANDiscriminator(resolution=8, channels=1, width=4, head="ac", num_classes=4, sn=False)
    arch = {"name": "sndcgan", "resolution": 8, "channels": 1, "width": 4}
    arch |= {"head": "ac", "num_classes": 4, "sn": False}
    disc = tmp_path / "discriminator.pt"
    save_model(disc, D, arch, kind="discriminator", image_size=8)
    train = tmp_path / "subset.npz"
    save_image_set(train, make_image_set([5, 5, 5], image_size=8))  # three classes, not four
    with pytest.raises(DataFileError, match="classes 3, but classifier .*discriminator.pt"):
        finetune_discriminator(
            "ft", {}, train, train, disc, tmp_path / "g.pt", *(tmp_path / n for n in "abcd")
        )
