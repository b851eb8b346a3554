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

With an ``ac`` head, class terms add to them: AC-GAN's, Rob-GAN's split loss (no class
term on fakes) and Fast-RobGAN's CE + KL to uniform on fakes (:data:`CLASS_LOSSES`).
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

    def real_term(self, real: torch.Tensor) -> torch.Tensor:
        """The discriminator loss's term of each real sample alone: what Rob-GAN's PGD
        ascends on the reals (with the class term). Only objectives whose real term
        does not depend on the fakes have one."""
        raise NotImplementedError(f"the {self.name} loss has no per-sample real term")


class RelativisticPairwise(GANObjective):
    name = "relativistic"
    generator_needs_real = True

    def discriminator_loss(self, real, fake):
        return F.softplus(-(real - fake)).mean()

    def generator_loss(self, real, fake):
        return F.softplus(-(fake - real)).mean()


class SeparableObjective(GANObjective):
    """An objective whose discriminator loss is a real term plus a fake term:
    L_D = real_weight * mean real_term(D(x_r)) + mean fake_term(D(x_f)).
    ``real_weight`` 1 is the usual loss; Rob-GAN's code weights the real term 0.5
    (with its class term 0.5, its fake term 1; ``miscs/loss.loss_nll``)."""

    def __init__(self, real_weight: float = 1.0):
        self.real_weight = real_weight

    def fake_term(self, fake: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def discriminator_loss(self, real, fake):
        return self.real_weight * self.real_term(real).mean() + self.fake_term(fake).mean()


class Hinge(SeparableObjective):
    name = "hinge"

    def fake_term(self, fake):
        return F.relu(1.0 + fake)

    def real_term(self, real):
        return F.relu(1.0 - real)

    def generator_loss(self, real, fake):
        return -fake.mean()


class NonSaturating(SeparableObjective):
    name = "non_saturating"

    def fake_term(self, fake):
        return F.softplus(fake)

    def real_term(self, real):
        return F.softplus(-real)

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


class WassersteinGP(SeparableObjective):
    name = "wgan_gp"

    def __init__(self, penalty_weight: float = 10.0, real_weight: float = 1.0):
        super().__init__(real_weight)
        self.penalty_weight = penalty_weight

    def fake_term(self, fake):
        return fake

    def real_term(self, real):
        return -real

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

    D: weight * (CE(class logits of reals, y) + fake_weight * CE(class logits of fakes,
    y_fake)); G: generator_weight * CE(class logits of fakes, y_fake) (``generator_weight``
    defaults to ``weight``; Fast-RobGAN's alpha_g). ``fake_weight`` 1 is AC-GAN's loss;
    below 1 it weakens what D learns of classes from the generator's own images (a
    class head trained on fakes lets G draw whatever D has learnt to call y). Subclasses
    change the fake term.
    """

    name = "ac"

    def __init__(
        self, weight: float = 1.0, generator_weight: float | None = None, fake_weight: float = 1.0
    ):
        self.weight = weight
        self.generator_weight = weight if generator_weight is None else generator_weight
        self.fake_weight = fake_weight

    def fake_term(self, fake_logits, fake_labels) -> torch.Tensor:
        return F.cross_entropy(fake_logits, fake_labels)

    def discriminator_term(self, real_logits, real_labels, fake_logits, fake_labels):
        real = F.cross_entropy(real_logits, real_labels)
        return self.weight * (real + self.fake_weight * self.fake_term(fake_logits, fake_labels))

    def generator_term(self, fake_logits, fake_labels):
        return self.generator_weight * F.cross_entropy(fake_logits, fake_labels)


class SplitClassifierLoss(AuxiliaryClassifierLoss):
    """Rob-GAN's split AC loss (Liu & Hsieh 2019, Sec. 3.2): the discriminator learns
    classes from real images only, so it has no class term on fakes (a generator that
    draws class y badly should not teach D that such images are y); G keeps its class
    term on its sampled label."""

    name = "split"

    def __init__(self, weight: float = 1.0, generator_weight: float | None = None):
        super().__init__(weight, generator_weight, fake_weight=0.0)

    def fake_term(self, fake_logits, fake_labels):
        return fake_logits.new_zeros(())


def kl_to_uniform_of_logits(logits: torch.Tensor, direction: str = "thesis") -> torch.Tensor:
    """Mean over samples of KL(p || U) (``thesis``) or KL(U || p) (``code``), p the
    softmax of ``logits``, U uniform over the K classes (natural log).

    KL(p || U) = sum_k p_k log p_k + log K;  KL(U || p) = -log K - (1/K) sum_k log p_k.
    """
    log_p = F.log_softmax(logits, dim=1)
    log_k = torch.log(torch.tensor(float(logits.shape[1]), device=logits.device))
    if direction == "thesis":
        return ((log_p.exp() * log_p).sum(1) + log_k).mean()
    if direction == "code":
        return (-log_k - log_p.mean(1)).mean()
    raise ValueError(f"unknown KL direction {direction!r}; expected 'thesis' or 'code'")


class UniformFakeClassLoss(AuxiliaryClassifierLoss):
    """Fast-RobGAN's ``ce_kl`` class terms (Zhong et al.; reference notes "Fast-RobGAN"):
    CE on reals, and on fakes the KL between D's class distribution and the uniform
    one, so D gives a fake no class; G: alpha_g * CE on its sampled label. The thesis
    writes KL(p || U) (``kl: thesis``, the default); the authors' code computes
    KL(U || p) (``kl: code``)."""

    name = "ce_kl"

    def __init__(
        self,
        weight: float = 1.0,
        generator_weight: float | None = None,
        kl: str = "thesis",
        fake_weight: float = 1.0,
    ):
        super().__init__(weight, generator_weight, fake_weight)
        kl_to_uniform_of_logits(torch.zeros(1, 2), kl)  # an unknown direction fails here
        self.kl = kl

    def fake_term(self, fake_logits, fake_labels):
        return kl_to_uniform_of_logits(fake_logits, self.kl)


CLASS_LOSSES = {
    cls.name: cls for cls in (AuxiliaryClassifierLoss, SplitClassifierLoss, UniformFakeClassLoss)
}


def build_class_loss(cfg: dict) -> AuxiliaryClassifierLoss:
    """The class terms of a discriminator with an ``ac`` head from ``{name, weight,
    generator_weight, kl}`` (name ``ac`` by default)."""
    name = cfg.get("name", "ac")
    if name not in CLASS_LOSSES:
        raise ValueError(f"unknown class loss {name!r}; expected one of {sorted(CLASS_LOSSES)}")
    return CLASS_LOSSES[name](**{k: v for k, v in cfg.items() if k != "name"})
