"""Gradient attacks: FGSM, PGD (L-inf and L2), and free adversarial training's
persistent perturbation. Budgets and steps are on the models' [-1, 1] scale; configs
convert with :func:`advtail.attacks.budgets.to_model_scale`."""

from __future__ import annotations

import torch

from advtail.attacks.base import Attack, clip_image, input_gradient
from advtail.attacks.losses import InnerLoss, cross_entropy

NORMS = ("linf", "l2")


def _per_sample_norm(v: torch.Tensor) -> torch.Tensor:
    return v.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, *([1] * (v.dim() - 1)))


def ascent_direction(grad: torch.Tensor, norm: str) -> torch.Tensor:
    """The steepest-ascent step of unit size: sign (L-inf) or the normalised gradient (L2)."""
    if norm == "linf":
        return grad.sign()
    return grad / _per_sample_norm(grad)


def project(delta: torch.Tensor, eps: float, norm: str) -> torch.Tensor:
    """``delta`` projected onto the norm ball of radius ``eps``."""
    if norm == "linf":
        return delta.clamp(-eps, eps)
    return delta * (eps / _per_sample_norm(delta)).clamp(max=1.0)


def random_start(x: torch.Tensor, eps: float, norm: str, generator=None) -> torch.Tensor:
    """A uniform point of the ball: U(-eps, eps) per pixel (L-inf, Madry et al.), or a
    uniform direction at a radius eps * U^(1/d) (L2)."""
    if norm == "linf":
        noise = torch.rand(x.shape, generator=generator, dtype=x.dtype, device="cpu")
        return (2 * noise - 1).to(x.device) * eps
    direction = torch.randn(x.shape, generator=generator, dtype=x.dtype, device="cpu")
    direction = direction / _per_sample_norm(direction)
    dims = x[0].numel()
    radius = torch.rand(len(x), generator=generator, dtype=x.dtype, device="cpu") ** (1 / dims)
    return (direction * eps * radius.view(-1, *([1] * (x.dim() - 1)))).to(x.device)


class FGSM(Attack):
    """Fast gradient sign method (Goodfellow et al. 2015): x + eps sign(grad_x CE); under
    L2, its fast-gradient form x + eps grad / ||grad||_2 (one full step of the ball)."""

    name = "fgsm"

    def __init__(self, eps: float, loss: InnerLoss = cross_entropy, norm: str = "linf"):
        if norm not in NORMS:
            raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")
        self.eps, self.loss, self.norm = eps, loss, norm

    def perturb(self, model, x, y, generator):
        grad, _ = input_gradient(model, self.loss, x, y)
        return clip_image(x + self.eps * ascent_direction(grad, self.norm))


class PGD(Attack):
    """Projected gradient descent (Madry et al. 2018), L-inf or L2.

    x_{t+1} = clip_{x, eps}(x_t + step * direction(grad)), clipped to the image range;
    x_0 = x, or a uniform point of the ball with ``random_start``. With ``restarts`` > 1
    each sample keeps the first restart that fools the model (else the last), so more
    restarts never make the attack weaker.
    """

    name = "pgd"

    def __init__(
        self,
        eps: float,
        steps: int,
        step_size: float,
        norm: str = "linf",
        random_start: bool = True,
        restarts: int = 1,
        loss: InnerLoss = cross_entropy,
    ):
        if norm not in NORMS:
            raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")
        if steps < 1 or restarts < 1:
            raise ValueError("steps and restarts must be at least 1")
        self.eps, self.steps, self.step_size = eps, steps, step_size
        self.norm, self.random_start, self.restarts, self.loss = norm, random_start, restarts, loss

    def perturb(self, model, x, y, generator):
        if self.restarts == 1:  # nothing to choose between: no extra forward pass
            return self.one_run(model, x, y, generator)
        best = x.clone()
        still_correct = torch.ones(len(x), dtype=torch.bool, device=x.device)
        for _ in range(self.restarts):
            x_adv = self.one_run(model, x, y, generator)
            with torch.no_grad():
                fooled = model(x_adv).argmax(1) != y
            take = still_correct  # samples not fooled yet take this restart's result
            best[take] = x_adv[take]
            still_correct &= ~fooled
            if not still_correct.any():
                break
        return best

    def one_run(self, model, x, y, generator):
        delta = torch.zeros_like(x)
        if self.random_start:
            delta = random_start(x, self.eps, self.norm, generator)
        x_adv = clip_image(x + delta)
        for _ in range(self.steps):
            grad, _ = input_gradient(model, self.loss, x_adv, y)
            step = x_adv + self.step_size * ascent_direction(grad, self.norm)
            x_adv = clip_image(x + project(step - x, self.eps, self.norm))
        return x_adv


class FreePerturbation:
    """The perturbation of free adversarial training (Shafahi et al. 2019), kept across
    minibatches: each replay of a minibatch uses ``apply(x)`` in the training forward
    pass, and the same backward pass that updates the network gives ``x.grad`` for
    ``update``: delta <- clip_eps(delta + step * sign(grad)). Fast-RobGAN replays each
    minibatch M times with one perturbation per discriminator round.

    ``init``: the first delta, ``zero`` (Shafahi et al.) or ``normal``: clamp(N(0, 1),
    +-eps), as Fast-RobGAN's code starts it (reference notes).
    """

    INITS = ("zero", "normal")

    def __init__(self, eps: float, step_size: float | None = None, init: str = "zero"):
        if init not in self.INITS:
            raise ValueError(f"unknown init {init!r}; expected one of {self.INITS}")
        self.eps = eps
        self.step_size = eps if step_size is None else step_size
        self.init = init
        self.delta: torch.Tensor | None = None

    def apply(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """``x`` + delta (a leaf that requires grad, for the shared backward pass)."""
        if self.delta is None or self.delta.shape != x.shape:
            # the first batch, or one of another size (an epoch's last), starts afresh
            if self.init == "zero":
                self.delta = torch.zeros_like(x)
            else:
                noise = torch.randn(x.shape, generator=generator, dtype=x.dtype)
                self.delta = noise.clamp(-self.eps, self.eps).to(x.device)
        return clip_image(x.detach() + self.delta).requires_grad_(True)

    def update(self, x_adv: torch.Tensor) -> None:
        """Ascend along the gradient the training backward pass left on ``x_adv``."""
        if x_adv.grad is None:
            raise RuntimeError("backward() must run before the perturbation update")
        step = self.delta + self.step_size * x_adv.grad.sign()
        self.delta = project(step, self.eps, "linf").detach()

    def state_dict(self) -> dict:
        return {"delta": self.delta}

    def load_state_dict(self, state: dict) -> None:
        self.delta = state["delta"]
