"""Learning-rate schedules, evaluated per epoch."""

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
