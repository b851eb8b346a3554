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


def attacked_predictions(
    model,
    attack,
    x: torch.Tensor,
    y: torch.Tensor,
    batch_size: int = 256,
    generator: torch.Generator | None = None,
    keep: torch.Tensor | None = None,
):
    """The model's predictions on ``attack``'s examples of every image (on the clean
    images for ``attack`` None), batched; and the examples of the indices ``keep``, in
    the order of ``keep``.

    Every image is attacked, whether or not the clean one is classified correctly, so
    the predictions show where adversarial examples land (REAT, Fig. 1)."""
    predictions, kept = [], []
    wanted = torch.zeros(len(x), dtype=torch.bool, device=x.device)
    if keep is not None:
        wanted[keep] = True
    with eval_mode(model):
        for start in range(0, len(x), batch_size):
            xb, yb = x[start : start + batch_size], y[start : start + batch_size]
            x_adv = xb if attack is None else attack(model, xb, yb, generator)
            with torch.no_grad():
                predictions.append(model(x_adv).argmax(1))
            kept.append(x_adv[wanted[start : start + batch_size]])
    kept = torch.cat(kept)  # in the order of the images
    if keep is not None:
        kept = kept[torch.searchsorted(wanted.nonzero().squeeze(1).cpu(), keep.cpu())]
    return torch.cat(predictions), kept


def stratified_indices(labels: torch.Tensor, count: int, seed: int = 0) -> torch.Tensor:
    """A fixed subset of ``count`` images with the classes as even as the labels allow
    (classes taken in turn, each in a seeded random order), sorted by index: the images
    an expensive attack (AutoAttack) runs on when the whole split would take too long."""
    generator = torch.Generator().manual_seed(seed)
    labels = labels.cpu()
    queues = [
        members[torch.randperm(len(members), generator=generator)].tolist()
        for members in ((labels == k).nonzero().squeeze(1) for k in range(int(labels.max()) + 1))
    ]
    chosen, turn = [], 0
    count = min(count, len(labels))
    while len(chosen) < count:
        queue = queues[turn % len(queues)]
        if queue:
            chosen.append(queue.pop(0))
        turn += 1
    return torch.tensor(sorted(chosen), dtype=torch.long)
