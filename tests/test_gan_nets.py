"""GAN networks: shapes at several resolutions, the reference SNDCGAN layout, heads, SN, cBN."""

import pytest
import torch
from advtail.nets.discriminators import DISCRIMINATORS, DCGANDiscriminator
from advtail.nets.gans import GENERATORS, ConditionalBatchNorm2d, DCGANGenerator
from torch.nn.utils.parametrize import is_parametrized


@pytest.mark.parametrize("name", sorted(GENERATORS))
@pytest.mark.parametrize("resolution,channels", [(16, 1), (32, 3)])
@pytest.mark.parametrize("head", ["none", "projection", "ac"])
def test_shapes(name, resolution, channels, head):
    conditional = head != "none"
    G = GENERATORS[name](
        resolution=resolution,
        channels=channels,
        latent_dim=16,
        width=8,
        num_classes=5 if conditional else None,
    )
    D = DISCRIMINATORS[name](
        resolution=resolution,
        channels=channels,
        width=8,
        head=head,
        num_classes=5 if conditional else None,
    )
    z, y = torch.randn(3, 16), torch.tensor([0, 4, 2])
    x = G(z, y if conditional else None)
    assert x.shape == (3, channels, resolution, resolution)
    assert x.abs().max() <= 1.0
    adversarial, class_logits = D(x, y if conditional else None)
    assert adversarial.shape == (3,)
    assert (class_logits is None) == (head != "ac")
    if head == "ac":
        assert class_logits.shape == (3, 5)


def test_sndcgan_layout_of_the_reference_notes():
    G = DCGANGenerator(resolution=32, channels=3, latent_dim=128, width=64)
    assert G.linear.out_features == 512 * 4 * 4
    assert [up.out_channels for up in G.ups] == [256, 128, 64]
    assert all(up.kernel_size == (4, 4) and up.stride == (2, 2) for up in G.ups)
    D = DCGANDiscriminator(resolution=32, channels=3, width=64)
    convs = [m for m in D.trunk if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [64, 64, 128, 128, 256, 256, 512]
    assert [c.kernel_size[0] for c in convs] == [3, 4, 3, 4, 3, 4, 3]
    # spectral norm on every discriminator layer, none in the generator
    assert all(is_parametrized(c, "weight") for c in convs) and is_parametrized(D.linear, "weight")
    assert not any(is_parametrized(m) for m in G.modules())
    # the parametrization's weight has spectral norm 1 after its power iterations
    D.train()
    for _ in range(20):
        D(torch.zeros(1, 3, 32, 32))
    D.eval()
    assert torch.linalg.matrix_norm(D.linear.weight, ord=2).item() == pytest.approx(1, abs=1e-2)


def test_projection_adds_the_class_embedding_inner_product():
    D = DCGANDiscriminator(
        resolution=16, channels=1, width=4, head="projection", num_classes=3, sn=False
    ).eval()
    x = torch.randn(2, 1, 16, 16)
    y = torch.tensor([1, 2])
    h = D.features(x)
    expected = D.linear(h).squeeze(1) + (D.embed(y) * h).sum(1)
    assert torch.allclose(D(x, y)[0], expected)
    with pytest.raises(ValueError, match="needs labels"):
        D(x)


def test_conditional_batch_norm_starts_as_plain_batch_norm():
    cbn = ConditionalBatchNorm2d(4, num_classes=3)
    x = torch.randn(6, 4, 5, 5)
    plain = torch.nn.BatchNorm2d(4, affine=False)
    assert torch.allclose(cbn(x, torch.tensor([0, 1, 2, 0, 1, 2])), plain(x), atol=1e-6)
    cbn.gain.weight.data[1] = 2.0
    out = cbn(x, torch.tensor([1] * 6))
    assert torch.allclose(out, 2 * plain(x), atol=1e-5)


def test_bad_arguments():
    with pytest.raises(ValueError, match="resolution"):
        DCGANGenerator(resolution=24)
    with pytest.raises(ValueError, match="needs num_classes"):
        DCGANDiscriminator(resolution=16, head="ac")
