"""Learning-rate schedules: per epoch (classifiers) or per generator step (GANs)."""

from __future__ import annotations


def warmup_step_lr(
    epoch: int, base_lr: float, warmup_epochs: int = 0, milestones=(), factors=()
) -> float:
    """Linear warm-up, then step decay (the LDAM-DRW schedule).

    Epochs are 0-based. During the first ``warmup_epochs`` the rate rises linearly,
    base_lr * (epoch + 1) / warmup_epochs. From ``milestones[i]`` on it is
    base_lr * factors[i] (factors are absolute, as in LDAM-DRW: x0.01 at 160, x0.0001
    at 180).
    """
    if epoch < warmup_epochs:
        return base_lr * (epoch + 1) / warmup_epochs
    factor = 1.0
    for milestone, milestone_factor in zip(milestones, factors, strict=True):
        if epoch >= milestone:
            factor = milestone_factor
    return base_lr * factor


def exponential_anneal(step: int, base_lr: float, base: float = 0.5, period: int = 80_000) -> float:
    """Fast-RobGAN's learning rate (Zhong et al.; reference notes "Fast-RobGAN"):
    lr_t = lr_0 * B ** (i / I) at generator step i (0-based), B = ``base``, I =
    ``period`` (0.5 and 80k on CIFAR, 30k on ImageNet-143): halved every ``period``
    steps, smoothly."""
    return base_lr * base ** (step / period)
