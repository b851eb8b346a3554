"""Adversarial objectives of the GAN trainer, each a pair (discriminator loss, generator loss)
computed from the discriminator's logits on real and generated batches.

- relativistic pairwise (Jolicoeur-Martineau 2018; the class-balancing GAN's default):
  L_D = -mean log sigmoid(D(x_r) - D(x_f)),  L_G = -mean log sigmoid(D(x_f) - D(x_r));
- hinge (Lim & Ye 2017; Miyato et al. 2018):
  L_D = mean relu(1 - D(x_r)) + mean relu(1 + D(x_f)),  L_G = -mean D(x_f);
- non-saturating (Goodfellow et al. 2014):
  L_D = mean softplus(-D(x_r)) + mean softplus(D(x_f)),  L_G = mean softplus(-D(x_f));
- WGAN-GP (Gulrajani et al. 2017): L_D = mean D(x_f) - mean D(x_r) + 10 * GP,
  L_G = -mean D(x_f), GP = mean (||grad_x D(x_hat)||_2 - 1)^2 on random interpolates.

-log sigmoid(t) is written softplus(-t), which is exact and stable.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch
import torch.nn.functional as F


class GANObjective(ABC):
    """Base: ``discriminator_loss`` and ``generator_loss`` from real and fake logits."""

    name = "base"
    # whether the generator loss reads the real logits (relativistic losses do)
    generator_needs_real = False

    @abstractmethod
    def discriminator_loss(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor: ...

    @abstractmethod
    def generator_loss(self, real: torch.Tensor | None, fake: torch.Tensor) -> torch.Tensor: ...

    def penalty(self, critic, real_images, fake_images, *critic_args) -> torch.Tensor:
        """An extra discriminator term (only WGAN-GP has one)."""
        return real_images.new_zeros(())


class RelativisticPairwise(GANObjective):
    name = "relativistic"
    generator_needs_real = True

    def discriminator_loss(self, real, fake):
        return F.softplus(-(real - fake)).mean()

    def generator_loss(self, real, fake):
        return F.softplus(-(fake - real)).mean()


class Hinge(GANObjective):
    name = "hinge"

    def discriminator_loss(self, real, fake):
        return F.relu(1.0 - real).mean() + F.relu(1.0 + fake).mean()

    def generator_loss(self, real, fake):
        return -fake.mean()


class NonSaturating(GANObjective):
    name = "non_saturating"

    def discriminator_loss(self, real, fake):
        return F.softplus(-real).mean() + F.softplus(fake).mean()

    def generator_loss(self, real, fake):
        return F.softplus(-fake).mean()


def gradient_penalty(
    critic, real_images, fake_images, *critic_args, generator: torch.Generator | None = None
) -> torch.Tensor:
    """mean (||grad D(x_hat)||_2 - 1)^2 with x_hat uniformly between real and fake."""
    shape = (real_images.shape[0],) + (1,) * (real_images.dim() - 1)
    mix = torch.rand(shape, generator=generator).to(real_images.device, real_images.dtype)
    interpolates = (mix * real_images + (1 - mix) * fake_images.detach()).requires_grad_(True)
    scores = critic(interpolates, *critic_args)
    (grads,) = torch.autograd.grad(scores.sum(), interpolates, create_graph=True)
    return ((grads.flatten(1).norm(dim=1) - 1.0) ** 2).mean()


class WassersteinGP(GANObjective):
    name = "wgan_gp"

    def __init__(self, penalty_weight: float = 10.0):
        self.penalty_weight = penalty_weight

    def discriminator_loss(self, real, fake):
        return fake.mean() - real.mean()

    def generator_loss(self, real, fake):
        return -fake.mean()

    def penalty(self, critic, real_images, fake_images, *critic_args):
        return self.penalty_weight * gradient_penalty(
            critic, real_images, fake_images, *critic_args
        )


GAN_OBJECTIVES = {
    "relativistic": RelativisticPairwise,
    "hinge": Hinge,
    "non_saturating": NonSaturating,
    "wgan_gp": WassersteinGP,
}


def build_gan_objective(cfg: dict) -> GANObjective:
    name = cfg["name"]
    if name not in GAN_OBJECTIVES:
        raise ValueError(f"unknown GAN loss {name!r}; expected one of {sorted(GAN_OBJECTIVES)}")
    kwargs = {k: v for k, v in cfg.items() if k != "name"}
    return GAN_OBJECTIVES[name](**kwargs)


class AuxiliaryClassifierLoss:
    """AC-GAN's class terms (Odena et al. 2017), added to the adversarial losses.

    D: weight * (CE(class logits of reals, y) + CE(class logits of fakes, y_fake));
    G: weight * CE(class logits of fakes, y_fake).
    """

    def __init__(self, weight: float = 1.0):
        self.weight = weight

    def discriminator_term(self, real_logits, real_labels, fake_logits, fake_labels):
        return self.weight * (
            F.cross_entropy(real_logits, real_labels) + F.cross_entropy(fake_logits, fake_labels)
        )

    def generator_term(self, fake_logits, fake_labels):
        return self.weight * F.cross_entropy(fake_logits, fake_labels)
