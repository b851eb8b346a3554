"""One classifier trainer for every loss, re-weighting schedule and adversarial
training recipe (PGD-AT, REAT).

The pieces plug in: the network (:mod:`advtail.nets.classifiers`), the loss and the
per-epoch class weights (:mod:`advtail.losses.classification`), the optimizer and the
learning-rate schedule (config), and for adversarial training the examples that replace
each batch (:class:`advtail.training.adversarial.AdversarialExamples`). The trainer owns
only its epoch: seeded shuffling, augmentation and attack starts, features and logits
computed once and both offered to the loss (REAT's TAIL needs the features), and
validation on the validation split (never the test split), under PGD when the training
is adversarial. Resume, checkpoints, the kept model and the log are the shared loop's
(:mod:`advtail.training.loop`).
"""

from __future__ import annotations

import numpy as np
import torch

from advtail.attacks.robustness import attacked_predictions
from advtail.data.augment import random_crop_flip
from advtail.losses.classification import ClassWeightSchedule
from advtail.metrics.classification import classification_metrics
from advtail.metrics.robustness import robust_metrics
from advtail.nets.inference import predict_logits, to_model_input
from advtail.training.adversarial import AdversarialExamples, validation_attack
from advtail.training.loop import LoopPlan, TrainingRun, check_finite, run_loop
from advtail.training.runtime import Precision, as_float
from advtail.training.schedules import warmup_step_lr


def make_optimizer(cfg: dict, params) -> torch.optim.Optimizer:
    if cfg["name"] == "sgd":
        return torch.optim.SGD(
            params,
            lr=cfg["lr"],
            momentum=cfg.get("momentum", 0.9),
            weight_decay=cfg.get("weight_decay", 0.0),
            nesterov=cfg.get("nesterov", False),
        )
    if cfg["name"] == "adam":
        return torch.optim.Adam(
            params,
            lr=cfg["lr"],
            betas=tuple(float(b) for b in cfg.get("betas", (0.9, 0.999))),
            weight_decay=cfg.get("weight_decay", 0.0),
        )
    raise ValueError(f"unknown optimizer {cfg['name']!r}")


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    """The generator of one epoch's shuffling and augmentation."""
    return torch.Generator().manual_seed(seed * 100_003 + epoch)


class ClassifierTrainer:
    """Trains ``model`` with ``loss`` and per-epoch class ``weights`` as ``cfg`` says.

    ``cfg`` keys: epochs, batch_size, optimizer, schedule, augment, select, seed, and
    ``adversarial`` (then ``examples`` makes the training batches), ``precision``
    (:class:`advtail.training.runtime.Precision`). A loss with
    ``uses_features = True`` is called as ``loss(logits, y, weight, features=f)``.
    ``extra_term(model, y, generator)``, when given, adds a loss term per batch (Rob-GAN's
    fine-tuning: lambda x CE on attacked generated images,
    :class:`advtail.training.robust_gan.GeneratedAdversarialTerm`).
    """

    unit = "epoch"
    progress_keys = ("train_loss", "val_balanced_accuracy", "val_pgd_balanced_accuracy")

    def __init__(
        self,
        model: torch.nn.Module,
        loss: torch.nn.Module,
        weights: ClassWeightSchedule,
        cfg: dict,
        device: torch.device,
        examples: AdversarialExamples | None = None,
        extra_term=None,
    ):
        self.model = model.to(device)
        self.precision = Precision.from_config(cfg.get("precision"))
        self.precision.prepare(device, self.model)
        self.examples = examples
        self.extra_term = extra_term
        self.loss = loss.to(device)
        self.weights = weights
        self.cfg = cfg
        self.device = device
        self.optimizer = make_optimizer(cfg["optimizer"], self.model.parameters())
        self.train_data = self.val_data = self.train_counts = None

    def learning_rate(self, epoch: int) -> float:
        schedule = self.cfg.get("schedule", {})
        return warmup_step_lr(
            epoch,
            self.cfg["optimizer"]["lr"],
            schedule.get("warmup_epochs", 0),
            schedule.get("milestones", []),
            schedule.get("factors", []),
        )

    def batch_loss(self, x: torch.Tensor, y: torch.Tensor, weight) -> tuple:
        """(loss, logits) of one batch: features and logits computed once."""
        features = self.model.features(x)
        features, logits = as_float(features, self.model.head(features))
        if getattr(self.loss, "uses_features", False):
            return self.loss(logits, y, weight, features=features), logits
        return self.loss(logits, y, weight), logits

    def train_unit(self, epoch: int) -> dict:
        images, labels = self.train_data
        cfg, augment = self.cfg, self.cfg.get("augment", {})
        generator = epoch_generator(cfg["seed"], epoch)
        torch.manual_seed(cfg["seed"] * 100_003 + epoch)  # dropout and other global draws
        lr = self.learning_rate(epoch)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        weights = self.weights(epoch)
        weight = (
            None
            if weights is None
            else torch.tensor(weights, dtype=torch.float32, device=self.device)
        )
        order = torch.randperm(len(labels), generator=generator).to(self.device)
        if self.examples is not None:
            self.examples.start_epoch(self.device)
        self.model.train()
        total_loss, correct, seen = 0.0, 0, 0
        batch_size = cfg["batch_size"]
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            if len(idx) < 2:  # batch norm needs two samples
                continue
            x = random_crop_flip(
                to_model_input(images[idx]),
                generator,
                augment.get("crop_padding", 0),
                augment.get("flip", False),
            )
            x, y = self.precision.images(x), labels[idx]
            with self.precision.forward(self.device):
                if self.examples is not None:  # made with the model in eval mode
                    x = self.examples(self.model, x, y, generator)
                loss, logits = self.batch_loss(x, y, weight)
                if self.extra_term is not None:
                    loss = loss + self.extra_term(self.model, y, generator).float()
            check_finite(loss, "training", self.unit, epoch)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            total_loss += loss.item() * len(idx)
            correct += (logits.argmax(1) == y).sum().item()
            seen += len(idx)
            if self.examples is not None:
                self.examples.observe(logits, y)
        row = {
            "lr": lr,
            "reweighted": weights is not None,
            "train_loss": total_loss / max(seen, 1),
            "train_accuracy": correct / max(seen, 1),
        }
        if self.examples is not None:  # train_accuracy is then on the adversarial batches
            row.update(self.examples.end_epoch())
        return row

    def validate(self, done: int) -> tuple[float, dict]:
        """Validation-split metrics; the score (``select: best_val``) is the balanced
        accuracy, under the validation PGD when the training is adversarial (the
        robust model is chosen on held-out data, never on test: REAT's protocol), or
        the epoch count (``select: last``, so the last epoch is kept)."""
        images, labels = self.val_data
        metrics, score_key = {}, "val_balanced_accuracy"
        if len(labels):
            logits = predict_logits(self.model, images, device=self.device)
            clean = logits.argmax(1).numpy()
            y = labels.cpu().numpy()
            metrics = _prefixed("val", classification_metrics(y, clean, self.train_counts))
            if self.examples is not None:
                generator = torch.Generator().manual_seed(self.cfg["seed"] * 100_003 + done)
                attack = validation_attack(self.cfg["adversarial"])
                adversarial, _ = attacked_predictions(
                    self.model, attack, to_model_input(images), labels, generator=generator
                )
                m = robust_metrics(y, clean, adversarial.cpu().numpy(), self.train_counts)
                metrics.update(_prefixed("val_pgd", m))
                score_key = "val_pgd_balanced_accuracy"
        if self.cfg.get("select", "best_val") == "best_val":
            return metrics.get(score_key, -np.inf), metrics
        return float(done), metrics

    def kept_model(self) -> torch.nn.Module:
        return self.model

    def state_dict(self) -> dict:
        state = {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict()}
        if self.examples is not None:  # RBL's a_k of the last epoch
            state["examples"] = self.examples.state_dict()
        return state

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.examples is not None:
            self.examples.load_state_dict(state["examples"])

    def fit(
        self,
        train: tuple,
        val: tuple,
        train_counts,
        checkpoint_path,
        fingerprint: str,
        on_epoch_end=None,
    ) -> TrainingRun:
        """Train for ``cfg['epochs']``, resuming from ``checkpoint_path`` when it is ours.

        ``train`` and ``val`` are (uint8 NHWC images, int64 labels) arrays. Returns the
        loop's run; ``run.best["model"]`` holds the kept weights.
        """
        self.train_data = tuple(torch.as_tensor(a).to(self.device) for a in train)
        self.val_data = tuple(torch.as_tensor(a).to(self.device) for a in val)
        self.train_counts = train_counts
        plan = LoopPlan(total=self.cfg["epochs"])
        return run_loop(self, plan, checkpoint_path, fingerprint, on_epoch_end)


def _prefixed(prefix: str, metrics: dict) -> dict:
    """The log entries of accuracy metrics: accuracy, balanced and per-group accuracy."""
    return {
        f"{prefix}_accuracy": metrics["accuracy"],
        f"{prefix}_balanced_accuracy": metrics["balanced_accuracy"],
        **{f"{prefix}_{g}_accuracy": a for g, a in metrics["group_accuracy"].items()},
    }


def resolve_normalization(cfg, images: np.ndarray) -> tuple[list, list]:
    """Per-channel (mean, std) in [0, 1]: ``auto`` measures them on the training images."""
    if cfg == "auto":
        pixels = images.reshape(-1, images.shape[-1]).astype(np.float64) / 255.0
        return pixels.mean(0).tolist(), np.maximum(pixels.std(0), 1e-3).tolist()
    return list(cfg["mean"]), list(cfg["std"])
