"""Classifier networks: shapes, in-model normalisation, known parameter counts."""

import pytest
import torch
from advtail.nets.classifiers import (
    CIFAR_MEAN,
    CIFAR_STD,
    InputNormalization,
    NormedLinear,
    build_classifier,
)


def arch(name, channels=3, **kwargs):
    return {
        "name": name,
        "num_classes": 10,
        "channels": channels,
        "mean": list(CIFAR_MEAN[:channels]),
        "std": list(CIFAR_STD[:channels]),
        **kwargs,
    }


def n_params(model):
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize(
    "name,kwargs",
    [
        ("small_cnn", {}),
        ("resnet32", {}),
        ("resnet18", {"width": 8}),
        ("wrn", {"depth": 10, "widen_factor": 1}),
    ],
)
@pytest.mark.parametrize("size,channels", [(16, 1), (32, 3)])
def test_shapes_at_any_size(name, kwargs, size, channels):
    model = build_classifier(arch(name, channels, **kwargs)).eval()
    x = torch.rand(3, channels, size, size) * 2 - 1
    logits, features = model(x), model.features(x)
    assert logits.shape == (3, 10)
    assert features.shape == (3, model.feature_dim)
    assert torch.allclose(model.head(features), logits, atol=1e-5)


def test_known_parameter_counts():
    # ResNet-32 (0.46M), ResNet-18 CIFAR (11.17M), WRN-28-10 (36.5M) for 10 classes
    assert n_params(build_classifier(arch("resnet32"))) == 464_154
    assert n_params(build_classifier(arch("resnet18"))) == 11_173_962
    assert n_params(build_classifier(arch("wrn", depth=28, widen_factor=10))) == 36_479_194


def test_normalisation_inside_the_model():
    norm = InputNormalization([0.5, 0.25], [0.5, 0.25])
    x = torch.tensor([-1.0, 1.0]).view(1, 1, 1, 2).repeat(1, 2, 1, 1)
    out = norm(x)
    # [-1, 1] -> [0, 1] -> standardised
    assert out[0, 0].flatten().tolist() == [-1.0, 1.0]
    assert out[0, 1].flatten().tolist() == [-1.0, 3.0]


def test_cosine_head_is_bounded():
    head = NormedLinear(8, 4)
    out = head(torch.randn(5, 8) * 100)
    assert out.abs().max() <= 1.0 + 1e-6
    model = build_classifier(arch("resnet32", normed_head=True))
    assert isinstance(model.head, NormedLinear)


def test_bad_arch_arguments():
    with pytest.raises(ValueError, match="6n \\+ 4"):
        build_classifier(arch("wrn", depth=27))
    with pytest.raises(ValueError, match="takes no"):
        build_classifier(arch("small_cnn", depth=3))
