"""The robust GANs' discriminator rounds, plugged into the one GAN trainer
(:class:`advtail.training.gan.DiscriminatorUpdate`), and the term that fine-tunes a
discriminator into a robust classifier.

- Rob-GAN (Liu & Hsieh 2019; reference notes "Rob-GAN"): every discriminator step trains
  on PGD examples of its real batch. The attack is the attack package's :class:`PGD`
  with D in eval mode, ascending the discriminator's own loss on the reals (the
  objective's real term + the class cross-entropy, as the authors' ``attack_Linf_PGD``),
  no random start.
- Fast-RobGAN (Zhong et al.; reference notes "Fast-RobGAN"): free adversarial training
  (Shafahi et al. 2019). One perturbation (:class:`FreePerturbation`) persists across
  rounds; a round draws its real and fake batch once and replays them M times, each
  replay one backward pass that gives both the discriminator's gradient (one optimizer
  step) and the perturbation's (one ascent step).
- Fine-tuning (Rob-GAN Eq. 10): CE(D_c(PGD(x_r)), y) + lambda CE(D_c(PGD(G(z, y))), y).
  The classifier trainer makes the first term (its adversarial examples);
  :class:`GeneratedAdversarialTerm` is the second.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from advtail.attacks.budgets import to_model_scale
from advtail.attacks.gradient import PGD, FreePerturbation
from advtail.losses.gan import GANObjective
from advtail.training.gan import DiscriminatorUpdate, GANTrainer
from advtail.training.loop import check_finite

ROBUST_GAN_ATTACKS = ("pgd", "free")


class DiscriminatorScores(nn.Module):
    """A discriminator as an attack's model: its adversarial logit and class logits side
    by side, [N, 1 + K], so the attack's inner loss can read both. A module, so the
    attack puts the discriminator in eval mode while it runs."""

    def __init__(self, discriminator: nn.Module):
        super().__init__()
        self.discriminator = discriminator

    def forward(self, x):
        adversarial, class_logits = self.discriminator(x)
        return torch.cat([adversarial[:, None], class_logits], dim=1).float()


def discriminator_real_loss(objective: GANObjective, class_weight: float = 1.0):
    """The inner loss of Rob-GAN's attack on the reals: per sample, the objective's
    weighted real term on the adversarial logit + ``class_weight`` x the cross-entropy
    of the class logits (the loss the discriminator minimises on reals, which the attack
    maximises)."""
    real_weight = getattr(objective, "real_weight", 1.0)

    def loss(scores: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return real_weight * objective.real_term(scores[:, 0]) + class_weight * F.cross_entropy(
            scores[:, 1:], y, reduction="none"
        )

    return loss


class AttackedRealsUpdate(DiscriminatorUpdate):
    """Rob-GAN's round: the standard round on PGD examples of each real batch."""

    def __init__(self, attack: PGD):
        self.attack = attack

    def real_examples(self, trainer: GANTrainer, x_real, y_real) -> torch.Tensor:
        class_weight = trainer.class_loss.weight if trainer.class_loss is not None else 1.0
        self.attack.loss = discriminator_real_loss(trainer.objective, class_weight)
        return self.attack(DiscriminatorScores(trainer.D), x_real, y_real, trainer.rng)


class FreeAdversarialUpdate(DiscriminatorUpdate):
    """Fast-RobGAN's round: ``d_steps`` times, one real and one fake batch replayed
    ``replays`` (M) times on the persistent perturbation; each replay's one backward pass
    steps both the discriminator and the perturbation."""

    def __init__(self, perturbation: FreePerturbation, replays: int):
        if replays < 1:
            raise ValueError(f"replays (M) must be at least 1, got {replays}")
        self.perturbation = perturbation
        self.replays = replays

    def __call__(self, trainer: GANTrainer, step: int):
        for _ in range(trainer.cfg.get("d_steps", 1)):
            x_real, y_real = trainer.real_batch()
            z, y_fake = trainer.fake_batch()
            with torch.no_grad(), trainer.precision.forward(trainer.device):
                fake = trainer.G(z, y_fake)
            for _ in range(self.replays):
                x_adv = self.perturbation.apply(x_real, trainer.rng)
                with trainer.precision.forward(trainer.device):
                    loss_d = self.loss(trainer, x_adv, y_real, fake, y_fake)
                check_finite(loss_d, "discriminator", trainer.unit, step)
                trainer.opt_d.zero_grad(set_to_none=True)
                loss_d.backward()
                self.perturbation.update(x_adv)
                trainer.opt_d.step()
        return {"loss_d": loss_d.item()}, x_adv.detach(), y_real

    def state_dict(self) -> dict:
        return self.perturbation.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.perturbation.load_state_dict(state)


class GeneratedAdversarialTerm:
    """Rob-GAN Eq. 10's second term: ``weight`` (lambda) x the cross-entropy of the
    classifier on PGD examples of generated images G(z, y), y drawn uniformly over the
    classes (the conditional generator balances what the long tail lacks).

    Called by the classifier trainer per batch as ``term(model, y, rng)``: as many
    generated images as real ones, attacked with the trainer's own attack.
    """

    def __init__(self, generator: nn.Module, attack, weight: float, num_classes: int):
        if not getattr(generator, "conditional", False):
            raise ValueError("fine-tuning on generated images needs a conditional generator")
        self.generator = generator.eval()
        self.attack = attack
        self.weight = weight
        self.num_classes = num_classes

    def __call__(self, model: nn.Module, y: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
        self.generator.to(y.device)  # a no-op after the first batch
        labels = torch.randint(0, self.num_classes, (len(y),), generator=rng).to(y.device)
        z = self.generator.sample_latent(len(y), rng, y.device)
        with torch.no_grad():
            fakes = self.generator(z, labels)
        x_adv = self.attack(model, fakes, labels, rng)
        return self.weight * F.cross_entropy(model(x_adv), labels)


def build_discriminator_update(robust: dict | None) -> DiscriminatorUpdate:
    """The discriminator round a GAN's ``robust`` block asks for (none: the standard one).

    ``{attack: pgd, eps, steps, step_size, random_start}`` (Rob-GAN) or ``{attack: free,
    eps, step_size, replays, init}`` (Fast-RobGAN); budgets on the [0, 1] scale.
    """
    if not robust:
        return DiscriminatorUpdate()
    attack = robust["attack"]
    if attack not in ROBUST_GAN_ATTACKS:
        raise ValueError(
            f"unknown robust GAN attack {attack!r}; expected one of {ROBUST_GAN_ATTACKS}"
        )
    eps = to_model_scale(robust["eps"])
    step_size = to_model_scale(robust.get("step_size", robust["eps"]))
    if attack == "pgd":
        return AttackedRealsUpdate(
            PGD(eps, robust["steps"], step_size, random_start=robust.get("random_start", False))
        )
    perturbation = FreePerturbation(eps, step_size, robust.get("init", "normal"))
    return FreeAdversarialUpdate(perturbation, robust.get("replays", 2))
