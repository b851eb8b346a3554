"""GAN objectives: known values, symmetry, the gradient penalty of a linear critic."""

import pytest
import torch
import torch.nn.functional as F
from advtail.losses.gan import (
    Hinge,
    NonSaturating,
    RelativisticPairwise,
    WassersteinGP,
    build_gan_objective,
    gradient_penalty,
)

REAL = torch.tensor([2.0, -1.0, 0.5])
FAKE = torch.tensor([-0.5, 0.3, 1.0])


def test_relativistic_pairwise():
    loss = RelativisticPairwise()
    expected = -torch.log(torch.sigmoid(REAL - FAKE)).mean()
    assert loss.discriminator_loss(REAL, FAKE).item() == pytest.approx(expected.item())
    # the generator's loss is the discriminator's with the roles swapped
    assert loss.generator_loss(REAL, FAKE).item() == pytest.approx(
        loss.discriminator_loss(FAKE, REAL).item()
    )
    assert loss.generator_needs_real


def test_hinge_and_non_saturating():
    hinge = Hinge()
    assert hinge.discriminator_loss(REAL, FAKE).item() == pytest.approx(
        (F.relu(1 - REAL).mean() + F.relu(1 + FAKE).mean()).item()
    )
    assert hinge.generator_loss(None, FAKE).item() == pytest.approx(-FAKE.mean().item())
    ns = NonSaturating()
    bce = F.binary_cross_entropy_with_logits
    assert ns.discriminator_loss(REAL, FAKE).item() == pytest.approx(
        (bce(REAL, torch.ones(3)) + bce(FAKE, torch.zeros(3))).item(), rel=1e-6
    )
    assert ns.generator_loss(None, FAKE).item() == pytest.approx(
        bce(FAKE, torch.ones(3)).item(), rel=1e-6
    )


def test_gradient_penalty_of_a_linear_critic():
    w = torch.tensor([3.0, 4.0])  # ||w|| = 5

    def critic(x):
        return x @ w

    real, fake = torch.randn(6, 2), torch.randn(6, 2)
    assert gradient_penalty(critic, real, fake).item() == pytest.approx(16.0)
    objective = WassersteinGP(penalty_weight=10.0)
    assert objective.penalty(critic, real, fake).item() == pytest.approx(160.0)
    assert Hinge().penalty(critic, real, fake).item() == 0.0


def test_builder():
    assert isinstance(build_gan_objective({"name": "relativistic"}), RelativisticPairwise)
    assert build_gan_objective({"name": "wgan_gp", "penalty_weight": 5}).penalty_weight == 5
    with pytest.raises(ValueError, match="unknown GAN loss"):
        build_gan_objective({"name": "lsgan"})
