"""Numeric precision of training (an entry's ``precision`` block): bf16 autocast with
float32 losses and weights, channels_last, and the CUDA path where a GPU exists."""

import math

import pandas as pd
import pytest
import torch
from advtail.config import load_yaml, validate_config
from advtail.errors import ConfigError
from advtail.losses.gan import build_class_loss, build_gan_objective
from advtail.nets.discriminators import DCGANDiscriminator
from advtail.nets.gans import DCGANGenerator
from advtail.stages.train_classifier import train_classifier
from advtail.training.gan import GANTrainer
from advtail.training.robust_gan import build_discriminator_update
from advtail.training.runtime import Precision
from conftest import REPO, SCHEMA
from test_adversarial_training import AT_CFG, PGD_AT, toy  # noqa: F401 (fixture)
from test_robust_gan import CFG as GAN_CFG
from test_robust_gan import FASTROBGAN, ROBGAN, data, robust_trainer
from test_training import run

BF16 = {"autocast": "bf16", "channels_last": True}
CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device visible")


def test_precision_config_is_checked():
    assert Precision.from_config(None) == Precision("none", False, False)
    with pytest.raises(ConfigError, match="precision.autocast.*'fp8'"):
        Precision.from_config({"autocast": "fp8"})
    config = load_yaml(REPO / "config/config.yaml")
    gan = next(iter(config["gans"]))
    config["gans"][gan]["precision"] = {"autocast": "bf16", "channels_last": True}
    validate_config(config, SCHEMA)  # accepted
    config["gans"][gan]["precision"] = {"autocast": "fp16"}
    with pytest.raises(ConfigError, match=f"gans.{gan}.precision.autocast"):
        validate_config(config, SCHEMA)


def test_bf16_forward_and_channels_last_on_the_cpu():
    """The context really computes convolutions in bfloat16, and the memory format moves."""
    precision = Precision.from_config(BF16)
    conv = torch.nn.Conv2d(1, 4, 3)
    precision.prepare("cpu", conv)
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    x = precision.images(torch.rand(2, 1, 8, 8))
    assert x.is_contiguous(memory_format=torch.channels_last)
    with precision.forward("cpu"):
        assert conv(x).dtype == torch.bfloat16
    assert conv(x).dtype == torch.float32  # outside: float32 again
    with Precision().forward("cpu"):
        assert conv(x).dtype == torch.float32


@pytest.mark.parametrize("robust", [None, ROBGAN, FASTROBGAN], ids=["acgan", "robgan", "fast"])
def test_gans_train_finite_under_bf16(robust):
    """Every discriminator round (standard, Rob-GAN's PGD, Fast-RobGAN's free replays)
    under bf16 autocast: finite float32 losses, float32 weights, channels_last kept, and
    different numbers from float32 (the autocast is on)."""
    rows = {}
    for name, precision in (("fp32", None), ("bf16", BF16)):
        cfg = {**GAN_CFG, "precision": precision} if precision else GAN_CFG
        trainer = robust_trainer(robust, cfg, class_loss={"name": "ce_kl"})
        images, labels = data()
        rows[name] = [trainer.train_step(step, images, labels) for step in range(3)]
    for row in rows["bf16"]:
        assert math.isfinite(row["loss_d"]) and math.isfinite(row["loss_g"])
    assert all(p.dtype == torch.float32 for p in trainer.G.parameters())
    assert all(p.dtype == torch.float32 for p in trainer.D.parameters())
    weight = next(p for p in trainer.D.parameters() if p.dim() == 4)
    assert weight.is_contiguous(memory_format=torch.channels_last)
    assert rows["bf16"][-1]["loss_d"] != rows["fp32"][-1]["loss_d"]
    assert rows["bf16"][0]["loss_d"] == pytest.approx(rows["fp32"][0]["loss_d"], rel=0.05)


def test_adversarial_training_under_bf16_learns(toy, tmp_path):  # noqa: F811
    """PGD-AT with its attack and losses under bf16: the model still learns the blobs
    (clean training accuracy of the last epoch above chance by far) and differs from
    float32's."""
    logs = {}
    for name, precision in (("fp32", None), ("bf16", BF16)):
        cfg = {**AT_CFG, "adversarial": PGD_AT}
        if precision:
            cfg["precision"] = precision
        run(toy, tmp_path / name, cfg=cfg)
        logs[name] = pd.read_csv(tmp_path / name / "log.csv")
    bf16 = logs["bf16"]
    assert bf16["train_loss"].map(math.isfinite).all()
    assert bf16["val_accuracy"].iloc[-1] > 0.5  # chance is 0.25
    assert not bf16["train_loss"].equals(logs["fp32"]["train_loss"])


@CUDA
def test_gan_and_adversarial_training_on_cuda(toy, tmp_path):  # noqa: F811
    """The CUDA path: networks, batches and attacks on the GPU, bf16 autocast,
    channels_last and cuDNN's benchmark mode."""
    cuda = torch.device("cuda")
    precision = {**BF16, "cudnn_benchmark": True}
    G = DCGANGenerator(resolution=8, channels=1, latent_dim=8, width=4, num_classes=4)
    D = DCGANDiscriminator(resolution=8, channels=1, width=4, head="ac", num_classes=4, sn=True)
    trainer = GANTrainer(
        G,
        D,
        build_gan_objective({"name": "hinge"}),
        {**GAN_CFG, "precision": precision},
        cuda,
        class_loss=build_class_loss({"name": "split"}),
        discriminator_update=build_discriminator_update(ROBGAN),
    )
    assert torch.backends.cudnn.benchmark
    images, labels = data()
    trainer.images, trainer.labels = (
        torch.as_tensor(images).to(cuda),
        torch.as_tensor(labels).to(cuda),
    )
    rows = [trainer.train_step(step) for step in range(3)]
    assert all(math.isfinite(r["loss_d"]) and math.isfinite(r["loss_g"]) for r in rows)
    assert next(trainer.G.parameters()).is_cuda
    out = tmp_path / "cuda"
    cfg = {**AT_CFG, "adversarial": PGD_AT, "precision": precision}
    args = (toy["train"], toy["val"], out / "model.pt", out / "log.csv", out / "meta.json")
    train_classifier("toy", cfg, *args, out / "ckpt" / "last.pt", device="cuda", threads=1)
    log = pd.read_csv(out / "log.csv")
    assert log["train_loss"].map(math.isfinite).all()
