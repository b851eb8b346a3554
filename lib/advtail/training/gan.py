"""One GAN trainer for every method: unconditional, + class-balancing regularizer, cGAN
with projection, AC-GAN.

What differs between methods plugs in: the adversarial objective
(:mod:`advtail.losses.gan`), the discriminator head (none / projection / ac), an
auxiliary-classifier term, and generator regularizers such as the class-balancing
regularizer (:mod:`advtail.losses.class_balancing`). The trainer owns the loop:
``d_steps`` discriminator steps per generator step, Adam per network, a generator EMA
from a configured step, per-cycle statistics, periodic validation keeping the best
EMA generator, checkpoints (with the random-number state, so a resumed run draws what
an uninterrupted one would) and a guard that stops on a non-finite loss.
"""

from __future__ import annotations

import copy
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from advtail.errors import AdvtailError
from advtail.losses.gan import AuxiliaryClassifierLoss, GANObjective
from advtail.nets.inference import features_and_predictions, to_model_input
from advtail.training.checkpointing import atomic_torch_save, fingerprint_of, load_resume_state

log = logging.getLogger(__name__)


class DivergenceError(AdvtailError):
    """A loss became NaN or infinite; the last checkpoint is kept."""


@dataclass
class GANRunState:
    step: int = 0
    rows: list = field(default_factory=list)
    cycles: list = field(default_factory=list)
    best: dict = field(default_factory=lambda: {"score": float("inf"), "step": 0, "model": None})
    resumed_from: int = 0


def update_ema(ema: torch.nn.Module, model: torch.nn.Module, decay: float) -> None:
    """ema <- decay * ema + (1 - decay) * model for parameters; buffers are copied."""
    with torch.no_grad():
        for e, p in zip(ema.parameters(), model.parameters(), strict=True):
            e.mul_(decay).add_(p, alpha=1.0 - decay)
        for e, b in zip(ema.buffers(), model.buffers(), strict=True):
            e.copy_(b)


class GANTrainer:
    """Trains ``generator`` against ``discriminator`` as ``cfg`` says.

    ``cfg`` keys: steps, batch_size, d_steps, optimizer {lr_g, lr_d, betas}, ema {decay,
    start} (optional), cycle_steps, log_every, checkpoint_every, seed. ``regularizers``
    are callables ``reg(fake_images) -> loss`` with an ``end_cycle()`` returning the
    cycle's argmax counts (or None). ``validate(generator) -> (score, metrics)`` is
    called every ``cfg['validate_every']`` steps; lower scores are better.
    """

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
    ):
        self.G, self.D = generator.to(device), discriminator.to(device)
        self.objective = objective
        self.cfg = cfg
        self.device = device
        self.regularizers = list(regularizers)
        self.class_loss = class_loss
        self.validate = validate
        opt = cfg["optimizer"]
        betas = tuple(opt.get("betas", (0.5, 0.999)))
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=opt["lr_g"], betas=betas)
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=opt["lr_d"], betas=betas)
        self.ema = copy.deepcopy(self.G).eval() if cfg.get("ema") else None
        self.rng = torch.Generator().manual_seed(cfg["seed"])
        self.uses_labels = self.G.conditional or discriminator.head != "none"

    # ------------------------------------------------------------------ one step
    def _real_batch(self, images, labels):
        idx = torch.randint(0, len(labels), (self.cfg["batch_size"],), generator=self.rng)
        idx = idx.to(self.device)
        return to_model_input(images[idx]), labels[idx]

    def _fake_batch(self, labels):
        z = self.G.sample_latent(self.cfg["batch_size"], self.rng, self.device)
        y = None
        if self.G.conditional:  # fake labels follow the training label distribution
            pick = torch.randint(0, len(labels), (self.cfg["batch_size"],), generator=self.rng)
            y = labels[pick.to(self.device)]
        return z, y

    def _d_labels(self, y):
        return y if self.D.head == "projection" else None

    @staticmethod
    def _check(loss: torch.Tensor, what: str, step: int) -> None:
        if not torch.isfinite(loss):
            raise DivergenceError(
                f"{what} loss became {loss.item()} at step {step + 1}; training stopped, the "
                "last checkpoint is kept (lower the learning rates or lambda and rerun)"
            )

    def train_step(self, step: int, images, labels) -> dict:
        row = {}
        for _ in range(self.cfg.get("d_steps", 1)):
            x_real, y_real = self._real_batch(images, labels)
            z, y_fake = self._fake_batch(labels)
            with torch.no_grad():
                fake = self.G(z, y_fake)
            d_real, c_real = self.D(x_real, self._d_labels(y_real))
            d_fake, c_fake = self.D(fake, self._d_labels(y_fake))
            loss_d = self.objective.discriminator_loss(d_real, d_fake)
            loss_d = loss_d + self.objective.penalty(
                lambda x, y=y_real: self.D(x, self._d_labels(y))[0], x_real, fake
            )
            if self.class_loss is not None:
                loss_d = loss_d + self.class_loss.discriminator_term(c_real, y_real, c_fake, y_fake)
            self._check(loss_d, "discriminator", step)
            self.opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            self.opt_d.step()
        row["loss_d"] = loss_d.item()
        z, y_fake = self._fake_batch(labels)
        fake = self.G(z, y_fake)
        d_fake, c_fake = self.D(fake, self._d_labels(y_fake))
        d_real = None
        if self.objective.generator_needs_real:
            with torch.no_grad():
                d_real = self.D(x_real, self._d_labels(y_real))[0]
        loss_g = self.objective.generator_loss(d_real, d_fake)
        row["loss_g_adv"] = loss_g.item()
        if self.class_loss is not None:
            loss_g = loss_g + self.class_loss.generator_term(c_fake, y_fake)
        for i, regularizer in enumerate(self.regularizers):
            term = regularizer(fake)
            row[f"reg{i}"] = term.item()
            loss_g = loss_g + term
        self._check(loss_g, "generator", step)
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        self.opt_g.step()
        row["loss_g"] = loss_g.item()
        if self.ema is not None:
            ema = self.cfg["ema"]
            update_ema(self.ema, self.G, ema["decay"] if step >= ema.get("start", 0) else 0.0)
        return row

    # ------------------------------------------------------------------ state
    def _state(self, run: GANRunState) -> dict:
        return {
            "step": run.step,
            "rows": run.rows,
            "cycles": run.cycles,
            "best": run.best,
            "G": self.G.state_dict(),
            "D": self.D.state_dict(),
            "ema": None if self.ema is None else self.ema.state_dict(),
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
            "rng": self.rng.get_state(),
            "torch_rng": torch.get_rng_state(),
            "regularizers": [
                r.tracker.state_dict() for r in self.regularizers if hasattr(r, "tracker")
            ],
        }

    def _load(self, state: dict) -> GANRunState:
        self.G.load_state_dict(state["G"])
        self.D.load_state_dict(state["D"])
        if self.ema is not None:
            self.ema.load_state_dict(state["ema"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        self.rng.set_state(state["rng"])
        torch.set_rng_state(state["torch_rng"])
        trackers = [r.tracker for r in self.regularizers if hasattr(r, "tracker")]
        for tracker, tracker_state in zip(trackers, state["regularizers"], strict=True):
            tracker.load_state_dict(tracker_state)
        return GANRunState(
            state["step"], state["rows"], state["cycles"], state["best"], resumed_from=state["step"]
        )

    def final_generator(self) -> torch.nn.Module:
        return self.ema if self.ema is not None else self.G

    # ------------------------------------------------------------------ loop
    def fit(
        self,
        images: np.ndarray,
        labels: np.ndarray,
        checkpoint_path: str | Path,
        fingerprint: str,
        on_step_end=None,
    ) -> GANRunState:
        """Train for ``cfg['steps']`` generator steps, resuming from ``checkpoint_path``."""
        cfg = self.cfg
        images = torch.as_tensor(images).to(self.device)
        labels = torch.as_tensor(labels).to(self.device)
        torch.manual_seed(cfg["seed"])
        state = load_resume_state(checkpoint_path, fingerprint)
        run = GANRunState() if state is None else self._load(state)
        if state is not None:
            log.info(
                "resuming from %s after step %d of %d", checkpoint_path, run.step, cfg["steps"]
            )
        # training seconds continue across resumes (the wall-time axis of validation curves)
        done = run.rows[-1]["seconds"] if run.rows else 0.0
        steps, began = cfg["steps"], time.perf_counter() - done
        every = {
            k: cfg.get(k) or steps
            for k in ("log_every", "checkpoint_every", "cycle_steps", "validate_every")
        }
        progress = tqdm(
            range(run.step, steps), initial=run.step, total=steps, desc="steps", mininterval=2.0
        )
        self.G.train()
        self.D.train()
        for step in progress:
            row = self.train_step(step, images, labels)
            run.step = step + 1
            if run.step % every["cycle_steps"] == 0:
                for i, regularizer in enumerate(self.regularizers):
                    counts = regularizer.end_cycle()
                    if counts is not None:
                        cycle = {"step": run.step, "regularizer": i, "cycle": len(run.cycles)}
                        total = max(float(np.sum(counts)), 1.0)
                        tracker = getattr(regularizer, "tracker", None)
                        for k, c in enumerate(counts):
                            cycle[f"share_{k}"] = float(c) / total
                            if tracker is not None:
                                cycle[f"N_{k}"] = float(tracker.frequency[k])
                        run.cycles.append(cycle)
            if self.validate is not None and run.step % every["validate_every"] == 0:
                score, metrics = self.validate(self.final_generator())
                self.G.train()
                row.update(metrics)
                if score < run.best["score"]:
                    model = self.final_generator()
                    run.best = {
                        "score": float(score),
                        "step": run.step,
                        "model": {
                            k: v.detach().cpu().clone() for k, v in model.state_dict().items()
                        },
                    }
            if run.step % every["log_every"] == 0 or run.step == steps:
                row.update(step=run.step, seconds=time.perf_counter() - began)
                run.rows.append(row)
                progress.set_postfix(loss_d=f"{row['loss_d']:.3f}", loss_g=f"{row['loss_g']:.3f}")
            if run.step % every["checkpoint_every"] == 0 or run.step == steps:
                atomic_torch_save({"fingerprint": fingerprint, **self._state(run)}, checkpoint_path)
            if on_step_end is not None:
                on_step_end(step, row)
        return run


# ---------------------------------------------------------------------- files in, files out


@torch.no_grad()
def generate_images(
    generator, n: int, rng: torch.Generator, device, labels=None, batch_size: int = 256
) -> torch.Tensor:
    """``n`` images in [-1, 1] (CPU); ``labels`` condition a conditional generator."""
    generator.eval()
    out = []
    for start in range(0, n, batch_size):
        count = min(batch_size, n - start)
        z = generator.sample_latent(count, rng, device)
        y = None if labels is None else torch.as_tensor(labels[start : start + count]).to(device)
        out.append(generator(z, y).float().cpu())
    return torch.cat(out)


def to_uint8_nhwc(images: torch.Tensor) -> np.ndarray:
    """[-1, 1] NCHW floats -> uint8 NHWC (the canonical on-disk form)."""
    scaled = ((images.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return scaled.permute(0, 2, 3, 1).numpy()


def balanced_labels(n: int, num_classes: int) -> np.ndarray:
    return (np.arange(n) % num_classes).astype(np.int64)


class AnnotatorValidation:
    """Validation by the annotator: KL to uniform of its labels, and FID on its features.

    The FID here is computed on the annotator's penultimate features against the cached
    statistics of a real split (never the test split) and is reported as
    ``fid_annotator``, never as an Inception FID. The score to minimise is that FID.
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
        from advtail.metrics.generation import feature_statistics, frechet_distance, kl_to_uniform

        rng = torch.Generator().manual_seed(self.seed)  # the same latents every validation
        labels = balanced_labels(self.samples, self.num_classes) if generator.conditional else None
        images = generate_images(generator, self.samples, rng, self.device, labels)
        features, predicted = features_and_predictions(self.annotator, images, self.device)
        fid = frechet_distance(*feature_statistics(features), *self.reference)
        kl = kl_to_uniform(predicted, self.num_classes)
        return fid, {"val_fid_annotator": fid, "val_kl_uniform": kl}


def train_gan(
    name: str,
    cfg: dict,
    subset_path,
    reference_stats,
    out_generator,
    out_log,
    out_cycles,
    out_meta,
    checkpoint_path,
    in_loop_path=None,
    annotator_path=None,
    device: str = "auto",
    threads: int | None = None,
    on_step_end=None,
) -> GANRunState:
    """Train GAN ``name`` (its validated config ``cfg``) on a subset and write its files.

    ``in_loop_path``: the classifier of the class-balancing regularizer (if configured);
    ``annotator_path``: the classifier that validates (KL to uniform, annotator FID)
    against ``reference_stats``, its feature statistics of a real split (not the test
    split; :func:`advtail.metrics.generation.compute_reference_statistics`).
    """
    import pandas as pd

    from advtail.data.arrays import load_image_set, write_json
    from advtail.losses.class_balancing import ClassBalancingRegularizer
    from advtail.losses.gan import build_gan_objective
    from advtail.nets.checkpoints import (
        build_discriminator,
        build_generator,
        load_classifier,
        save_model,
    )
    from advtail.training.runtime import resolve_device, seed_everything, set_threads

    began = time.perf_counter()
    set_threads(threads)
    torch_device = resolve_device(device)
    subset = load_image_set(subset_path)
    head = cfg.get("head", "none")
    conditional = cfg.get("conditional", head != "none")
    keep = subset.labels >= 0 if (conditional or head != "none") else slice(None)
    images, labels = subset.images[keep], subset.labels[keep]
    num_classes = subset.num_classes
    arch = cfg["arch"]
    g_arch = {
        "name": arch["name"],
        "resolution": int(images.shape[1]),
        "channels": int(images.shape[3]),
        "latent_dim": arch.get("latent_dim", 128),
        "width": arch.get("g_width", 64),
        "num_classes": num_classes if conditional else None,
    }
    d_arch = {
        "name": arch["name"],
        "resolution": int(images.shape[1]),
        "channels": int(images.shape[3]),
        "width": arch.get("d_width", 64),
        "head": head,
        "num_classes": num_classes if head != "none" else None,
        "sn": arch.get("spectral_norm", True),
    }
    seed_everything(cfg["seed"])
    G, D = build_generator(g_arch), build_discriminator(d_arch)
    regularizers = []
    reg = cfg.get("regularizer")
    if reg:
        classifier, _ = load_classifier(in_loop_path, torch_device)
        regularizers.append(
            ClassBalancingRegularizer(
                classifier,
                num_classes,
                reg["lambda"],
                reg.get("form", "paper"),
                reg.get("alpha", 0.5),
                reg.get("fixed_frequency"),
            )
        )
    validate = None
    if annotator_path is not None and cfg.get("validate_every"):
        from advtail.metrics.generation import load_reference_statistics

        annotator, _ = load_classifier(annotator_path, torch_device)
        mu, sigma, _ = load_reference_statistics(reference_stats, "annotator")
        validate = AnnotatorValidation(
            annotator,
            (mu, sigma),
            num_classes,
            cfg.get("validation_samples", 1000),
            cfg["seed"] + 1,
            torch_device,
        )
    trainer = GANTrainer(
        G,
        D,
        build_gan_objective(cfg["loss"]),
        cfg,
        torch_device,
        regularizers=regularizers,
        class_loss=AuxiliaryClassifierLoss(cfg.get("ac_weight", 1.0)) if head == "ac" else None,
        validate=validate,
    )
    fingerprint = fingerprint_of(cfg, g_arch, d_arch, subset.meta["sha256"])
    run = trainer.fit(images, labels, checkpoint_path, fingerprint, on_step_end)
    final = trainer.final_generator()
    if run.best["model"] is not None:
        final.load_state_dict(run.best["model"])
    save_model(
        out_generator,
        final,
        g_arch,
        kind="generator",
        gan=name,
        dataset=subset.meta.get("dataset"),
        subset=subset.meta.get("subset"),
        class_names=subset.class_names,
        selected_step=run.best["step"] or run.step,
        config=cfg,
    )
    for path, rows in ((out_log, run.rows), (out_cycles, run.cycles)):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        # a GAN without a regularizer has no cycles: a header, still a readable table
        frame = (
            pd.DataFrame(rows) if rows else pd.DataFrame(columns=["step", "regularizer", "cycle"])
        )
        frame.to_csv(path, index=False)
    write_json(
        out_meta,
        {
            "gan": name,
            "config": cfg,
            "generator": g_arch,
            "discriminator": d_arch,
            "train_images": int(len(labels)),
            "steps": run.step,
            "resumed_from_step": run.resumed_from,
            "selected_step": run.best["step"] or run.step,
            "device": str(torch_device),
            "wall_time_s": round(time.perf_counter() - began, 3),
            "versions": {"torch": torch.__version__, "numpy": np.__version__},
        },
    )
    return run


def generate_samples(
    generator_path,
    count: int,
    out_npz,
    out_grid,
    seed: int = 0,
    labeller_path=None,
    device: str = "auto",
    per_class: int = 10,
) -> dict:
    """``count`` samples of a generator file as a canonical .npz, and a grid PNG.

    Labels: the conditioning label of a conditional generator (balanced over classes),
    else the prediction of the classifier at ``labeller_path`` (the in-loop classifier).
    """
    from advtail.data.arrays import ImageSet, save_image_set
    from advtail.errors import DataFileError
    from advtail.nets.checkpoints import load_classifier, load_generator
    from advtail.nets.inference import predict_logits
    from advtail.plots.grids import plot_class_grid
    from advtail.training.runtime import resolve_device

    torch_device = resolve_device(device)
    generator, payload = load_generator(generator_path, torch_device)
    names = payload["class_names"]
    rng = torch.Generator().manual_seed(seed)
    if generator.conditional:
        labels = balanced_labels(count, len(names))
        images = to_uint8_nhwc(generate_images(generator, count, rng, torch_device, labels))
    else:
        if labeller_path is None:
            raise DataFileError(
                generator_path,
                "is unconditional: its samples need a "
                "classifier to label them (the in-loop classifier)",
            )
        images = to_uint8_nhwc(generate_images(generator, count, rng, torch_device))
        labeller, _ = load_classifier(labeller_path, torch_device)
        labels = predict_logits(labeller, images, device=torch_device).argmax(1).numpy()
    sample_set = ImageSet(
        images,
        labels.astype(np.int64),
        names,
        meta={
            "dataset": payload.get("dataset"),
            "subset": payload.get("subset"),
            "gan": payload.get("gan"),
        },
    )
    sidecar = save_image_set(
        out_npz,
        sample_set,
        seed=seed,
        labels_from="conditioning" if generator.conditional else "in-loop classifier",
    )
    plot_class_grid(
        images,
        labels,
        names,
        out_grid,
        per_class=per_class,
        title=f"{payload.get('gan')}: samples by class",
    )
    return sidecar
