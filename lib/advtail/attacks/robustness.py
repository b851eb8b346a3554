"""Robust accuracy as AutoAttack computes it: per-sample robust flags, each attack run
only on the samples that every earlier attack left correctly classified, the worst
case per sample over the attacks."""

from __future__ import annotations

import torch

from advtail.attacks.base import eval_mode


@torch.no_grad()
def correct_flags(model, x: torch.Tensor, y: torch.Tensor, batch_size: int = 512):
    with eval_mode(model):
        return torch.cat(
            [
                model(x[i : i + batch_size]).argmax(1) == y[i : i + batch_size]
                for i in range(0, len(x), batch_size)
            ]
        )


def robust_flags(
    model,
    attacks: dict,
    x: torch.Tensor,
    y: torch.Tensor,
    batch_size: int = 256,
    generator: torch.Generator | None = None,
) -> dict[str, torch.Tensor]:
    """Per-sample flags: ``clean`` (correct without attack), then one per attack
    (correct under it, given correct under every earlier one: the running worst case),
    in the order of ``attacks`` (name -> attack). The last flags are the robust ones."""
    flags = {"clean": correct_flags(model, x, y, batch_size)}
    robust = flags["clean"].clone()
    for name, attack in attacks.items():
        index = robust.nonzero().squeeze(1)
        for start in range(0, len(index), batch_size):
            part = index[start : start + batch_size]
            x_adv = attack(model, x[part], y[part], generator)
            robust[part] = correct_flags(model, x_adv, y[part], batch_size)
        flags[name] = robust.clone()
    return flags
