"""One GAN trainer for every method: unconditional, + class-balancing regularizer, cGAN
with projection, AC-GAN, Rob-GAN and Fast-RobGAN.

What differs between methods plugs in: the adversarial objective
(:mod:`advtail.losses.gan`), the discriminator head (none / projection / ac), the class
terms of an ``ac`` head (AC-GAN's, Rob-GAN's split, Fast-RobGAN's CE + KL), the
discriminator update (:class:`DiscriminatorUpdate`; Rob-GAN's attacked reals and
Fast-RobGAN's free adversarial training are in :mod:`advtail.training.robust_gan`),
and generator regularizers that own their state and cycle rows (the class-balancing
regularizer of :mod:`advtail.losses.class_balancing`). The trainer owns only a
generator step: a discriminator round, then one generator step, Adam per network
(optionally with Fast-RobGAN's exponential anneal), a generator EMA from a configured
step, and the count of the round's discriminator passes. Resume, checkpoints, the
kept (best validated) generator and the log are the shared loop's
(:mod:`advtail.training.loop`).
"""

from __future__ import annotations

import copy
import time
from typing import Protocol

import numpy as np
import torch

from advtail.losses.gan import AuxiliaryClassifierLoss, GANObjective
from advtail.metrics.generation import feature_statistics, frechet_distance, kl_to_uniform
from advtail.nets.inference import features_and_predictions, to_model_input
from advtail.nets.sampling import balanced_labels, generate_images
from advtail.training.loop import LoopPlan, check_finite, run_loop
from advtail.training.runtime import Precision, as_float
from advtail.training.schedules import exponential_anneal


def update_ema(ema: torch.nn.Module, model: torch.nn.Module, decay: float) -> None:
    """ema <- decay * ema + (1 - decay) * model for parameters; buffers are copied."""
    with torch.no_grad():
        for e, p in zip(ema.parameters(), model.parameters(), strict=True):
            e.mul_(decay).add_(p, alpha=1.0 - decay)
        for e, b in zip(ema.buffers(), model.buffers(), strict=True):
            e.copy_(b)


class GeneratorRegularizer(Protocol):
    """A term of the generator loss with state of its own (e.g. the class-balancing
    regularizer). ``end_cycle`` runs every ``cycle_steps`` generator steps and returns the
    cycle's row for ``cycles.csv`` (or None)."""

    def __call__(self, fake_images: torch.Tensor) -> torch.Tensor: ...

    def end_cycle(self) -> dict | None: ...

    def state_dict(self) -> dict: ...

    def load_state_dict(self, state: dict) -> None: ...


class PassCounter:
    """Counts a module's forward passes, and those of them a backward pass went through
    (each at most once): the cost unit of the robust GANs' comparison (Fast-RobGAN
    thesis: 4 passes per generator step against Rob-GAN's 25)."""

    def __init__(self, module: torch.nn.Module):
        self.forward = self.backward = 0
        module.register_forward_hook(self._on_forward)

    def _on_forward(self, module, inputs, output) -> None:
        self.forward += 1
        outputs = output if isinstance(output, tuple) else (output,)
        tracked = [t for t in outputs if isinstance(t, torch.Tensor) and t.requires_grad]
        counted = []

        def on_gradient(grad):
            if not counted:  # the pass's outputs may each receive a gradient
                counted.append(True)
                self.backward += 1

        for tensor in tracked:
            tensor.register_hook(on_gradient)

    def read(self) -> tuple[int, int]:
        """(forward, backward) since the last read."""
        counts = (self.forward, self.backward)
        self.forward = self.backward = 0
        return counts


class DiscriminatorUpdate:
    """The standard discriminator round: ``d_steps`` times, a fresh real and fake batch,
    the objective's loss (+ penalty, + the AC class term), one optimizer step.

    Subclasses change how a round treats its batches (Rob-GAN attacks the reals,
    Fast-RobGAN replays a batch with a persistent perturbation). A round returns its log
    entries and the last real batch (an objective may need it for the generator step).
    """

    def __call__(self, trainer: GANTrainer, step: int) -> tuple[dict, torch.Tensor, torch.Tensor]:
        for _ in range(trainer.cfg.get("d_steps", 1)):
            x_real, y_real = trainer.real_batch()
            z, y_fake = trainer.fake_batch()
            with trainer.precision.forward(trainer.device):
                with torch.no_grad():
                    fake = trainer.G(z, y_fake)
                x_real = self.real_examples(trainer, x_real, y_real)
                loss_d = self.loss(trainer, x_real, y_real, fake, y_fake)
            check_finite(loss_d, "discriminator", trainer.unit, step)
            trainer.opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            trainer.opt_d.step()
        return {"loss_d": loss_d.item()}, x_real, y_real

    def real_examples(self, trainer: GANTrainer, x_real, y_real) -> torch.Tensor:
        """The real images the discriminator trains on: as drawn (Rob-GAN attacks them)."""
        return x_real

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass

    @staticmethod
    def loss(trainer: GANTrainer, x_real, y_real, fake, y_fake) -> torch.Tensor:
        """The discriminator loss of one real and one fake batch."""
        D, d_labels = trainer.D, trainer.d_labels
        d_real, c_real = as_float(*D(x_real, d_labels(y_real)))
        d_fake, c_fake = as_float(*D(fake, d_labels(y_fake)))
        loss_d = trainer.objective.discriminator_loss(d_real, d_fake)
        loss_d = loss_d + trainer.objective.penalty(
            lambda x, y=y_real: D(x, d_labels(y))[0].float(), x_real, fake
        )
        if trainer.class_loss is not None:
            loss_d = loss_d + trainer.class_loss.discriminator_term(c_real, y_real, c_fake, y_fake)
        return loss_d


class GANTrainer:
    """Trains ``generator`` against ``discriminator`` as ``cfg`` says.

    ``cfg`` keys: steps, batch_size, d_steps, optimizer {lr_g, lr_d, betas, anneal {base,
    period}}, ema {decay, start} (optional), cycle_steps, log_every, checkpoint_every,
    validate_every, seed.
    ``regularizers``: :class:`GeneratorRegularizer` terms added to the generator loss.
    ``cfg['precision']`` (optional): :class:`advtail.training.runtime.Precision`.
    ``cfg['snapshots']`` (optional): keep the generator of each of the last that many
    cycles in :attr:`snapshots`.
    ``validate(generator) -> (score, metrics)`` runs every ``validate_every`` steps; the
    generator with the lowest score is kept.
    """

    unit = "step"
    progress_keys = ("loss_d", "loss_g")

    def __init__(
        self,
        generator,
        discriminator,
        objective: GANObjective,
        cfg: dict,
        device: torch.device,
        regularizers=(),
        class_loss: AuxiliaryClassifierLoss | None = None,
        validate=None,
        discriminator_update: DiscriminatorUpdate | None = None,
    ):
        self.G, self.D = generator.to(device), discriminator.to(device)
        self.precision = Precision.from_config(cfg.get("precision"))
        self.precision.prepare(device, self.G, self.D)
        self.objective = objective
        self.cfg = cfg
        self.device = device
        self.regularizers = list(regularizers)
        self.class_loss = class_loss
        self.validate_fn = validate
        self.discriminator_update = discriminator_update or DiscriminatorUpdate()
        opt = cfg["optimizer"]
        betas = tuple(float(b) for b in opt.get("betas", (0.5, 0.999)))  # YAML may give 0
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=opt["lr_g"], betas=betas)
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=opt["lr_d"], betas=betas)
        self.ema = copy.deepcopy(self.G).eval() if cfg.get("ema") else None
        self.rng = torch.Generator().manual_seed(cfg["seed"])
        self.passes = PassCounter(self.D)
        self.cycles: list[dict] = []
        # the generator at the end of each of the last ``snapshots`` cycles (CBGAN A.7:
        # the UAP prior is sampled from several cycles, as the regularizer moves the
        # generator's focus from class to class)
        self.snapshots: list[dict] = []
        self.images = self.labels = None

    # ------------------------------------------------------------------ batches
    def real_batch(self):
        idx = torch.randint(0, len(self.labels), (self.cfg["batch_size"],), generator=self.rng)
        idx = idx.to(self.device)
        return self.precision.images(to_model_input(self.images[idx])), self.labels[idx]

    def fake_batch(self):
        z = self.G.sample_latent(self.cfg["batch_size"], self.rng, self.device)
        y = None
        if self.G.conditional:
            y = self.fake_labels(self.cfg["batch_size"])
        return z, y

    def fake_labels(self, n: int) -> torch.Tensor:
        """The conditioning labels of a fake batch (``cfg['fake_labels']``): ``uniform``
        over the classes (as the Rob-GAN and Fast-RobGAN authors' code draws them), or
        ``data``, following the training labels' (long-tailed) distribution."""
        if self.cfg.get("fake_labels", "uniform") == "uniform":
            num_classes = self.G.num_classes
            return torch.randint(0, num_classes, (n,), generator=self.rng).to(self.device)
        pick = torch.randint(0, len(self.labels), (n,), generator=self.rng)
        return self.labels[pick.to(self.device)]

    def d_labels(self, y):
        return y if self.D.head == "projection" else None

    # ------------------------------------------------------------------ one step
    def train_step(self, step: int, images=None, labels=None) -> dict:
        """One generator step (after its discriminator round); returns the log entries."""
        if images is not None:
            self.images, self.labels = torch.as_tensor(images), torch.as_tensor(labels)
        began = time.perf_counter()
        self.set_learning_rates(step)
        self.passes.read()
        row, x_real, y_real = self.discriminator_update(self, step)
        # the round's passes through D (the generator step adds one of each for every method)
        row["d_forward"], row["d_backward"] = self.passes.read()
        z, y_fake = self.fake_batch()
        with self.precision.forward(self.device):
            fake = self.G(z, y_fake)
            d_fake, c_fake = as_float(*self.D(fake, self.d_labels(y_fake)))
            d_real = None
            if self.objective.generator_needs_real:
                with torch.no_grad():
                    d_real = self.D(x_real, self.d_labels(y_real))[0].float()
            loss_g = self.objective.generator_loss(d_real, d_fake)
            row["loss_g_adv"] = loss_g.item()
            if self.class_loss is not None:
                loss_g = loss_g + self.class_loss.generator_term(c_fake, y_fake)
            for i, regularizer in enumerate(self.regularizers):
                term = regularizer(fake).float()
                row[f"reg{i}"] = term.item()
                loss_g = loss_g + term
        check_finite(loss_g, "generator", self.unit, step)
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        self.opt_g.step()
        row["loss_g"] = loss_g.item()
        if self.ema is not None:
            ema = self.cfg["ema"]
            update_ema(self.ema, self.G, ema["decay"] if step >= ema.get("start", 0) else 0.0)
        row["step_seconds"] = time.perf_counter() - began  # training alone, no validation
        return row

    def set_learning_rates(self, step: int) -> None:
        """Fast-RobGAN's exponential anneal of both rates, when configured."""
        opt = self.cfg["optimizer"]
        anneal = opt.get("anneal")
        if not anneal:
            return
        for optimizer, key in ((self.opt_g, "lr_g"), (self.opt_d, "lr_d")):
            lr = exponential_anneal(step, opt[key], anneal.get("base", 0.5), anneal["period"])
            for group in optimizer.param_groups:
                group["lr"] = lr

    # ------------------------------------------------------------------ the loop's protocol
    def train_unit(self, step: int) -> dict:
        row = self.train_step(step)
        done = step + 1
        cycle_steps = self.cfg.get("cycle_steps") or self.cfg["steps"]
        if done % cycle_steps == 0:
            kept = self.cfg.get("snapshots", 0)
            if done > self.cfg["steps"] - kept * cycle_steps:
                state = self.final_generator().state_dict()
                self.snapshots.append(
                    {
                        "step": done,
                        "state_dict": {k: v.detach().cpu().clone() for k, v in state.items()},
                    }
                )
            for i, regularizer in enumerate(self.regularizers):
                cycle = regularizer.end_cycle()
                if cycle is not None:
                    self.cycles.append(
                        {"step": done, "regularizer": i, "cycle": len(self.cycles), **cycle}
                    )
        return row

    def validate(self, done: int):
        if self.validate_fn is None:
            return None
        result = self.validate_fn(self.final_generator())
        self.G.train()
        return result

    def final_generator(self) -> torch.nn.Module:
        return self.ema if self.ema is not None else self.G

    kept_model = final_generator

    def state_dict(self) -> dict:
        return {
            "cycles": self.cycles,
            "snapshots": self.snapshots,
            "G": self.G.state_dict(),
            "D": self.D.state_dict(),
            "ema": None if self.ema is None else self.ema.state_dict(),
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
            "rng": self.rng.get_state(),
            "torch_rng": torch.get_rng_state(),
            "regularizers": [r.state_dict() for r in self.regularizers],
            "discriminator_update": self.discriminator_update.state_dict(),
        }

    def load_state_dict(self, state: dict) -> None:
        self.cycles = state["cycles"]
        self.snapshots = state.get("snapshots", [])
        self.G.load_state_dict(state["G"])
        self.D.load_state_dict(state["D"])
        if self.ema is not None:
            self.ema.load_state_dict(state["ema"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        self.rng.set_state(state["rng"])
        torch.set_rng_state(state["torch_rng"])
        for regularizer, reg_state in zip(self.regularizers, state["regularizers"], strict=True):
            regularizer.load_state_dict(reg_state)
        self.discriminator_update.load_state_dict(state["discriminator_update"])

    def fit(self, images, labels, checkpoint_path, fingerprint: str, on_step_end=None):
        """Train for ``cfg['steps']`` generator steps, resuming from ``checkpoint_path``.

        Returns the loop's run; ``run.best["model"]`` holds the kept generator's weights
        (None without validation), and :attr:`cycles` the regularizers' cycle rows.
        """
        cfg = self.cfg
        self.images = torch.as_tensor(images).to(self.device)
        self.labels = torch.as_tensor(labels).to(self.device)
        torch.manual_seed(cfg["seed"])  # a resumed run restores the state saved instead
        self.G.train()
        self.D.train()
        validate_every = (cfg.get("validate_every") or cfg["steps"]) if self.validate_fn else None
        plan = LoopPlan(
            total=cfg["steps"],
            log_every=cfg.get("log_every"),
            checkpoint_every=cfg.get("checkpoint_every"),
            validate_every=validate_every,  # a validator without a cadence: once, at the end
            higher_is_better=False,
        )
        return run_loop(self, plan, checkpoint_path, fingerprint, on_step_end)


class AnnotatorValidation:
    """Validation by the annotator: KL to uniform of its labels, and FID on its features.

    The FID here is computed on the annotator's penultimate features against the cached
    statistics of a real split (never the test split) and is reported as
    ``fid_annotator``, never as an Inception FID. The score to minimise is that FID for
    an unconditional generator. A conditional generator is drawn with balanced labels
    and also scored on its label agreement a (the share of samples the annotator calls
    their conditioning label): its score is FID / a, so a generator whose images look
    right but ignore y (a near chance) is never kept over one that follows y.
    """

    def __init__(
        self,
        annotator,
        reference: tuple[np.ndarray, np.ndarray],
        num_classes: int,
        samples: int,
        seed: int,
        device,
    ):
        self.annotator = annotator.eval()
        self.num_classes = num_classes
        self.samples = samples
        self.seed = seed
        self.device = device
        self.reference = reference

    def __call__(self, generator):
        rng = torch.Generator().manual_seed(self.seed)  # the same latents every validation
        labels = balanced_labels(self.samples, self.num_classes) if generator.conditional else None
        images = generate_images(generator, self.samples, rng, self.device, labels)
        features, predicted = features_and_predictions(self.annotator, images, self.device)
        fid = frechet_distance(*feature_statistics(features), *self.reference)
        kl = kl_to_uniform(predicted, self.num_classes)
        metrics = {"val_fid_annotator": fid, "val_kl_uniform": kl}
        if labels is None:
            return fid, metrics
        agreement = float(np.mean(predicted == labels))
        metrics["val_label_agreement"] = agreement
        return fid / max(agreement, 1e-3), metrics
