"""DeepFool (Moosavi-Dezfooli et al. 2016): the smallest step to the nearest decision
boundary of the linearised classifier, repeated until the prediction changes."""

from __future__ import annotations

import torch

from advtail.attacks.base import Attack, clip_image


class DeepFool(Attack):
    """Untargeted DeepFool under L2 or L-inf, against the model's own prediction.

    Per iteration, for every class k other than the clean prediction k0:
    w_k = grad f_k - grad f_k0, f_k = z_k - z_k0; the nearest boundary is
    l = argmin_k |f_k| / ||w_k||_q (q = 2 for L2, q = 1 for L-inf), and the step is
    (|f_l| + 1e-4) w_l / ||w_l||_2^2 (L2) or (|f_l| + 1e-4) sign(w_l) / ||w_l||_1
    (L-inf). The summed steps are scaled by 1 + ``overshoot`` to cross the boundary.
    Samples whose prediction changed stop; at most ``max_iter`` iterations.

    DeepFool looks for the smallest perturbation, with no budget. Under a threat model
    (``eps``, on the [-1, 1] scale, in the attack's norm) an example farther than eps
    from its image does not count: the image itself is returned for it.
    """

    name = "deepfool"

    def __init__(
        self,
        norm: str = "l2",
        overshoot: float = 0.02,
        max_iter: int = 50,
        eps: float | None = None,
    ):
        if norm not in ("l2", "linf"):
            raise ValueError(f"norm must be 'l2' or 'linf', got {norm!r}")
        self.norm, self.overshoot, self.max_iter, self.eps = norm, overshoot, max_iter, eps

    def perturb(self, model, x, y, generator):
        with torch.no_grad():
            k0 = model(x).argmax(1)
        total = torch.zeros_like(x)
        x_adv = x.clone()
        for _ in range(self.max_iter):
            with torch.no_grad():
                active = model(x_adv).argmax(1) == k0
            if not active.any():
                break
            index = active.nonzero().squeeze(1)
            total[index] += self._step(model, x_adv[index], k0[index])
            x_adv = clip_image(x + (1 + self.overshoot) * total)
        if self.eps is not None:
            q = float("inf") if self.norm == "linf" else 2.0
            outside = (x_adv - x).flatten(1).norm(p=q, dim=1) > self.eps * (1 + 1e-6)
            x_adv[outside] = x[outside]
        return x_adv

    def _step(self, model, x, k0):
        x = x.detach().requires_grad_(True)
        logits = model(x)
        num_classes = logits.shape[1]
        grads = torch.stack(
            [
                torch.autograd.grad(logits[:, k].sum(), x, retain_graph=k < num_classes - 1)[0]
                for k in range(num_classes)
            ],
            dim=1,
        )  # (N, K, C, H, W)
        rows = torch.arange(len(x), device=x.device)
        w = grads - grads[rows, k0][:, None]
        f = (logits - logits[rows, k0][:, None]).detach()
        q = 2 if self.norm == "l2" else 1
        w_norm = w.flatten(2).norm(p=q, dim=2).clamp_min(1e-12)
        distance = f.abs() / w_norm
        distance[rows, k0] = float("inf")
        nearest = distance.argmin(1)
        w_l, f_l = w[rows, nearest], f[rows, nearest].abs() + 1e-4
        shape = (-1, *([1] * (x.dim() - 1)))
        if self.norm == "l2":
            return (f_l / w_l.flatten(1).norm(dim=1).pow(2).clamp_min(1e-12)).view(shape) * w_l
        return (f_l / w_l.flatten(1).norm(p=1, dim=1).clamp_min(1e-12)).view(shape) * w_l.sign()
