"""What every attack shares: the call, the model's mode, the image range.

An attack is called as ``attack(model, x, y, generator=None) -> x_adv`` with images in
[-1, 1]. ``model`` maps images to logits: a classifier, a discriminator's class head
(``lambda x: D(x)[1]``) or the victim of a universal perturbation. When it is a
module, the attack puts it in eval mode (batch norm uses its running statistics, as
PGD adversarial training does) and restores its mode after; a plain function's caller
sets the mode.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import torch
from torch import nn

from advtail.attacks.budgets import IMAGE_MAX, IMAGE_MIN

LogitsFn = Callable[[torch.Tensor], torch.Tensor]


@contextlib.contextmanager
def eval_mode(model: LogitsFn):
    """``model`` in eval mode inside the block (a module; a function is left alone),
    its previous mode (of every submodule) restored after."""
    if not isinstance(model, nn.Module):
        yield model
        return
    modes = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        for module, training in modes:
            module.train(training)


class Attack:
    """Base class: subclasses implement :meth:`perturb` on a model in eval mode."""

    name = "attack"

    def __call__(
        self,
        model: LogitsFn,
        x: torch.Tensor,
        y: torch.Tensor,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        with eval_mode(model):
            x_adv = self.perturb(model, x.detach(), y, generator)
        return x_adv.detach()

    def perturb(self, model, x, y, generator) -> torch.Tensor:
        raise NotImplementedError


def clip_image(x: torch.Tensor) -> torch.Tensor:
    return x.clamp(IMAGE_MIN, IMAGE_MAX)


def input_gradient(model: LogitsFn, loss_fn, x: torch.Tensor, y: torch.Tensor):
    """(gradient of the summed inner loss with respect to ``x``, the logits)."""
    x = x.detach().requires_grad_(True)
    logits = model(x).float()  # the inner loss in float32 under a training's bf16 autocast
    (grad,) = torch.autograd.grad(loss_fn(logits, y).sum(), x)
    return grad, logits.detach()
