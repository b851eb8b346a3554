"""Universal adversarial perturbations: one perturbation v for every image.

- :func:`craft_generative_perturbation`: Generative Adversarial Perturbations (GAP,
  Poursaeed et al. 2018) in universal mode. A ResNet generator of one fixed noise input
  (:class:`advtail.nets.perturbations.UniversalPerturbationGenerator`) is trained so
  that the victim misclassifies x + v over a crafting set: GAP's fooling loss, the log
  of the cross-entropy towards the least-likely class of the clean prediction
  (untargeted) or towards a target class, minimised. ``skip_gradient`` scales the
  gradient through the residual branches of a ResNet victim (Wu et al. 2020, "Skip
  connections matter", alpha 0.5 in CBGAN appendix A.7).
- :func:`deepfool_universal_perturbation`: Moosavi-Dezfooli et al. 2017, Algorithm 1.
  Over the crafting images in turn, where x + v is still classified as x, add the
  DeepFool step that takes x + v over the nearest boundary, and project v back onto the
  norm ball; stop at a target fooling rate or an epoch limit.
- :func:`random_sign_perturbation`: eps * a random sign per pixel, the baseline at the
  same budget.

Images are on the models' [-1, 1] scale; ``eps`` here is on that scale too (twice the
[0, 1] budget, :func:`advtail.attacks.budgets.to_model_scale`).
"""

from __future__ import annotations

import contextlib

import numpy as np
import torch
import torch.nn.functional as F

from advtail.attacks.base import clip_image, eval_mode
from advtail.attacks.deepfool import DeepFool
from advtail.attacks.gradient import project
from advtail.nets.classifiers import residual_branch_ends
from advtail.nets.inference import to_model_input
from advtail.nets.perturbations import UniversalPerturbationGenerator


def fooling_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """GAP's fooling loss, log CE(f(x + v), target), minimised; ``target`` is the
    least-likely class of the clean prediction (untargeted) or the attack's target."""
    return torch.log(F.cross_entropy(logits, target))


def fooling_targets(clean_logits: torch.Tensor, target_class: int | None) -> torch.Tensor:
    """The least-likely class of each clean prediction, or ``target_class`` for all."""
    if target_class is None:
        return clean_logits.argmin(dim=1)
    return torch.full(
        (len(clean_logits),), target_class, dtype=torch.long, device=clean_logits.device
    )


class _ScaleGradient(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, factor):
        ctx.factor = factor
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        return grad * ctx.factor, None


@contextlib.contextmanager
def skip_gradient(model: torch.nn.Module, alpha: float | None):
    """Inside the block, the gradient through every residual branch of ``model`` is
    multiplied by ``alpha`` (the skip connections keep theirs); None: unchanged. A model
    without residual blocks is an error: the option would silently do nothing."""
    if alpha is None:
        yield model
        return
    ends = residual_branch_ends(model)
    if not ends:
        raise ValueError(
            f"skip_gradient needs a residual victim; {type(model).__name__} has no residual blocks"
        )
    handles = [
        end.register_forward_hook(lambda _m, _i, out: _ScaleGradient.apply(out, alpha))
        for end in ends
    ]
    try:
        yield model
    finally:
        for handle in handles:
            handle.remove()


def _frozen(victim: torch.nn.Module):
    """The victim's parameters stop needing gradients inside the block (restored after)."""
    params = list(victim.parameters())
    flags = [p.requires_grad for p in params]

    @contextlib.contextmanager
    def block():
        for p in params:
            p.requires_grad_(False)
        try:
            yield
        finally:
            for p, flag in zip(params, flags, strict=True):
                p.requires_grad_(flag)

    return block()


def craft_generative_perturbation(
    victim: torch.nn.Module,
    images: np.ndarray,
    eps: float,
    *,
    steps: int = 300,
    batch_size: int = 64,
    lr: float = 2e-4,
    width: int = 64,
    blocks: int = 6,
    target_class: int | None = None,
    skip_gradient_alpha: float | None = None,
    seed: int = 0,
    device="cpu",
    log_every: int = 50,
    on_log=None,
) -> tuple[torch.Tensor, list[dict]]:
    """GAP's universal perturbation of ``victim`` over uint8 NHWC ``images``.

    ``steps`` generator updates on batches drawn in turn from shuffled passes over the
    images (the same number of updates whatever the crafting set's size, so methods
    crafting on sets of different sizes compare fairly). Adam (lr, betas 0.5 / 0.999,
    as GAP) on the generator; the victim is frozen, in eval mode. Returns the
    perturbation (1, C, H, W) on the [-1, 1] scale, within +-eps, and a row every
    ``log_every`` steps: mean fooling loss and fooling rate of those steps' batches
    (share of predictions changed).
    """
    torch.manual_seed(seed)
    _, height, _, channels = images.shape
    maker = UniversalPerturbationGenerator(channels, height, eps, width, blocks, seed).to(device)
    optimizer = torch.optim.Adam(maker.parameters(), lr=lr, betas=(0.5, 0.999))
    data = torch.as_tensor(images)
    rng = torch.Generator().manual_seed(seed)
    rows, order, cursor = [], torch.randperm(len(data), generator=rng), 0
    loss_sum, fooled, seen = 0.0, 0, 0
    with eval_mode(victim), _frozen(victim), skip_gradient(victim, skip_gradient_alpha):
        for step in range(steps):
            if cursor >= len(order):  # a new pass over the crafting images
                order, cursor = torch.randperm(len(data), generator=rng), 0
            batch = order[cursor : cursor + batch_size]
            cursor += batch_size
            x = to_model_input(data[batch].to(device))
            with torch.no_grad():
                clean = victim(x)
            logits = victim(clip_image(x + maker()))
            loss = fooling_loss(logits, fooling_targets(clean, target_class))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            loss_sum += float(loss.detach()) * len(x)
            fooled += int((logits.argmax(1) != clean.argmax(1)).sum())
            seen += len(x)
            if (step + 1) % log_every == 0 or step + 1 == steps:
                row = {
                    "step": step + 1,
                    "fooling_loss": loss_sum / seen,
                    "fooling_rate": fooled / seen,
                }
                rows.append(row)
                if on_log is not None:
                    on_log(row)
                loss_sum, fooled, seen = 0.0, 0, 0
    with torch.no_grad():  # as trained: batch norm on the noise image's own statistics
        delta = maker().detach().cpu()
    return delta, rows


@torch.no_grad()
def _predict(victim, x: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
    return torch.cat(
        [victim(x[i : i + batch_size]).argmax(1) for i in range(0, len(x), batch_size)]
    )


def deepfool_universal_perturbation(
    victim: torch.nn.Module,
    images: np.ndarray,
    eps: float,
    *,
    norm: str = "linf",
    target_fooling_rate: float = 0.8,
    max_epochs: int = 5,
    overshoot: float = 0.02,
    max_iter: int = 50,
    seed: int = 0,
    device="cpu",
    on_log=None,
) -> tuple[torch.Tensor, list[dict]]:
    """Moosavi-Dezfooli et al.'s universal perturbation (Algorithm 1) over ``images``.

    Returns v (1, C, H, W) on the [-1, 1] scale and one row per epoch (the fooling rate
    on the crafting images after it, and how many DeepFool updates it made).
    ``on_log(row)`` is called with each row.
    """
    # DeepFool in the ball's own norm (L-inf: its sign step), then the projection
    deepfool = DeepFool(norm=norm, overshoot=overshoot, max_iter=max_iter)
    x_all = to_model_input(torch.as_tensor(images)).to(device)
    v = torch.zeros_like(x_all[:1])
    rng = torch.Generator().manual_seed(seed)
    rows = []
    with eval_mode(victim):
        clean = _predict(victim, x_all)
        for epoch in range(max_epochs):
            updates = 0
            for i in torch.randperm(len(x_all), generator=rng).tolist():
                x_v = clip_image(x_all[i : i + 1] + v)
                with torch.no_grad():
                    same = victim(x_v).argmax(1) == clean[i]
                if not bool(same):
                    continue
                x_adv = deepfool(victim, x_v, clean[i : i + 1])
                with torch.no_grad():
                    crossed = victim(x_adv).argmax(1) != clean[i]
                if bool(crossed):  # DeepFool reached the boundary: keep its step
                    v = project(v + (x_adv - x_v), eps, norm)
                    updates += 1
            rate = float((_predict(victim, clip_image(x_all + v)) != clean).float().mean())
            row = {"epoch": epoch + 1, "fooling_rate": rate, "updates": updates}
            rows.append(row)
            if on_log is not None:
                on_log(row)
            if rate >= target_fooling_rate:
                break
    return v.detach().cpu(), rows


def random_sign_perturbation(shape, eps: float, seed: int = 0) -> torch.Tensor:
    """eps * a uniformly random sign per value: the random baseline at the budget."""
    rng = torch.Generator().manual_seed(seed)
    signs = torch.randint(0, 2, tuple(shape), generator=rng).float() * 2 - 1
    return eps * signs
