"""One classifier trainer for every loss and re-weighting schedule.

The pieces plug in: the network (:mod:`advtail.nets`), the loss and the per-epoch
class weights (:mod:`advtail.losses.classification`), the optimizer and the
learning-rate schedule (config). The trainer owns the loop: seeded shuffling and
augmentation per epoch, a checkpoint after every epoch (atomic, outside the rule's
outputs), resume from it, a progress bar, one ``log.csv`` row per epoch, and model
selection on the validation split (never the test split).
"""

from __future__ import annotations

import logging
import platform
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from advtail.data.arrays import load_image_set, write_json
from advtail.data.augment import random_crop_flip
from advtail.losses.classification import ClassWeightSchedule, build_classification_loss
from advtail.metrics.classification import classification_metrics
from advtail.nets.checkpoints import build_classifier, save_model
from advtail.nets.inference import predict_logits, to_model_input
from advtail.training.checkpointing import atomic_torch_save, fingerprint_of, load_resume_state
from advtail.training.runtime import resolve_device, seed_everything, set_threads
from advtail.training.schedules import warmup_step_lr

log = logging.getLogger(__name__)


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
            betas=tuple(cfg.get("betas", (0.9, 0.999))),
            weight_decay=cfg.get("weight_decay", 0.0),
        )
    raise ValueError(f"unknown optimizer {cfg['name']!r}")


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    """The generator of one epoch's shuffling and augmentation."""
    return torch.Generator().manual_seed(seed * 100_003 + epoch)


@dataclass
class FitResult:
    state_dict: dict
    selected_epoch: int
    rows: list[dict]
    resumed_from: int


class ClassifierTrainer:
    """Trains ``model`` with ``loss`` and per-epoch class ``weights`` as ``cfg`` says.

    ``cfg`` keys: epochs, batch_size, optimizer, schedule, augment, select, seed.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        loss: torch.nn.Module,
        weights: ClassWeightSchedule,
        cfg: dict,
        device: torch.device,
    ):
        self.model = model.to(device)
        self.loss = loss.to(device)
        self.weights = weights
        self.cfg = cfg
        self.device = device
        self.optimizer = make_optimizer(cfg["optimizer"], self.model.parameters())

    def learning_rate(self, epoch: int) -> float:
        schedule = self.cfg.get("schedule", {})
        return warmup_step_lr(
            epoch,
            self.cfg["optimizer"]["lr"],
            schedule.get("warmup_epochs", 0),
            schedule.get("milestones", []),
            schedule.get("factors", []),
        )

    def train_epoch(self, epoch: int, images: torch.Tensor, labels: torch.Tensor) -> dict:
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
            y = labels[idx]
            logits = self.model(x)
            loss = self.loss(logits, y, weight)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"loss became {loss.item()} in epoch {epoch + 1}")
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            total_loss += loss.item() * len(idx)
            correct += (logits.argmax(1) == y).sum().item()
            seen += len(idx)
        return {
            "lr": lr,
            "reweighted": weights is not None,
            "train_loss": total_loss / max(seen, 1),
            "train_accuracy": correct / max(seen, 1),
        }

    def validate(self, images, labels, train_counts) -> dict:
        if len(labels) == 0:
            return {}
        logits = predict_logits(self.model, images, device=self.device)
        metrics = classification_metrics(
            labels.cpu().numpy(), logits.argmax(1).numpy(), train_counts
        )
        return {
            "val_accuracy": metrics["accuracy"],
            "val_balanced_accuracy": metrics["balanced_accuracy"],
            **{f"val_{g}_accuracy": a for g, a in metrics["group_accuracy"].items()},
        }

    def fit(
        self,
        train: tuple,
        val: tuple,
        train_counts,
        checkpoint_path: str | Path,
        fingerprint: str,
        on_epoch_end=None,
    ) -> FitResult:
        """Train for ``cfg['epochs']``, resuming from ``checkpoint_path`` when it is ours.

        ``train`` and ``val`` are (uint8 NHWC images, int64 labels) arrays.
        ``on_epoch_end(epoch, row)`` is called after each epoch's checkpoint is written.
        """
        images, labels = (torch.as_tensor(a).to(self.device) for a in train)
        val_images, val_labels = (torch.as_tensor(a).to(self.device) for a in val)
        epochs, select = self.cfg["epochs"], self.cfg.get("select", "best_val")
        state = load_resume_state(checkpoint_path, fingerprint)
        if state is None:
            start, rows, best = 0, [], {"score": -np.inf, "epoch": -1, "model": None}
        else:
            self.model.load_state_dict(state["model"])
            self.optimizer.load_state_dict(state["optimizer"])
            start, rows, best = state["epoch"], state["rows"], state["best"]
            log.info("resuming from %s after epoch %d of %d", checkpoint_path, start, epochs)
        resumed_from = start
        progress = tqdm(
            range(start, epochs), initial=start, total=epochs, desc="epochs", mininterval=1.0
        )
        for epoch in progress:
            began = time.perf_counter()
            row = {"epoch": epoch + 1, **self.train_epoch(epoch, images, labels)}
            row.update(self.validate(val_images, val_labels, train_counts))
            row["seconds"] = time.perf_counter() - began
            rows.append(row)
            score = row.get("val_balanced_accuracy", -np.inf) if select == "best_val" else epoch
            if score >= best["score"]:
                best = {
                    "score": float(score),
                    "epoch": epoch + 1,
                    "model": {
                        k: v.detach().cpu().clone() for k, v in self.model.state_dict().items()
                    },
                }
            atomic_torch_save(
                {
                    "fingerprint": fingerprint,
                    "epoch": epoch + 1,
                    "rows": rows,
                    "model": self.model.state_dict(),
                    "optimizer": self.optimizer.state_dict(),
                    "best": best,
                },
                checkpoint_path,
            )
            progress.set_postfix(
                loss=f"{row['train_loss']:.3f}",
                val_bacc=f"{row.get('val_balanced_accuracy', float('nan')):.3f}",
            )
            log.info(
                "epoch %d: %s",
                epoch + 1,
                {k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()},
            )
            if on_epoch_end is not None:
                on_epoch_end(epoch, row)
        return FitResult(best["model"], best["epoch"], rows, resumed_from)


def resolve_normalization(cfg, images: np.ndarray) -> tuple[list, list]:
    """Per-channel (mean, std) in [0, 1]: ``auto`` measures them on the training images."""
    if cfg == "auto":
        pixels = images.reshape(-1, images.shape[-1]).astype(np.float64) / 255.0
        return pixels.mean(0).tolist(), np.maximum(pixels.std(0), 1e-3).tolist()
    return list(cfg["mean"]), list(cfg["std"])


def train_classifier(
    name: str,
    cfg: dict,
    train_path: str | Path,
    val_path: str | Path,
    out_model: str | Path,
    out_log: str | Path,
    out_meta: str | Path,
    checkpoint_path: str | Path,
    device: str = "auto",
    threads: int | None = None,
    on_epoch_end=None,
) -> FitResult:
    """Train classifier ``name`` (its validated config ``cfg``) and write its files.

    The labelled images of the subset at ``train_path`` are the training set (images
    labelled -1 are skipped); ``val_path`` is the dataset's validation split.
    """
    began = time.perf_counter()
    set_threads(threads)
    torch_device = resolve_device(device)
    train, val = load_image_set(train_path), load_image_set(val_path)
    labelled = train.labels >= 0
    images, labels = train.images[labelled], train.labels[labelled]
    counts = np.bincount(labels, minlength=train.num_classes)
    mean, std = resolve_normalization(cfg.get("normalize", "auto"), images)
    arch = {
        **cfg["arch"],
        "num_classes": train.num_classes,
        "channels": int(images.shape[-1]),
        "mean": mean,
        "std": std,
    }
    seed_everything(cfg["seed"])
    model = build_classifier(arch)
    loss = build_classification_loss(cfg["loss"], counts)
    trainer = ClassifierTrainer(
        model, loss, ClassWeightSchedule(cfg.get("reweighting"), counts), cfg, torch_device
    )
    fingerprint = fingerprint_of(cfg, arch, train.meta["sha256"], val.meta["sha256"])
    result = trainer.fit(
        (images, labels),
        (val.images, val.labels),
        counts,
        checkpoint_path,
        fingerprint,
        on_epoch_end,
    )
    model.load_state_dict(result.state_dict)
    save_model(
        out_model,
        model,
        arch,
        classifier=name,
        role=cfg.get("role", "other"),
        dataset=train.meta.get("dataset"),
        subset=train.meta.get("subset"),
        class_names=train.class_names,
        class_counts=counts.tolist(),
        selected_epoch=result.selected_epoch,
        config=cfg,
    )
    Path(out_log).parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(result.rows).to_csv(out_log, index=False)
    write_json(
        out_meta,
        {
            "classifier": name,
            "config": cfg,
            "arch": arch,
            "seed": cfg["seed"],
            "train_images": int(len(labels)),
            "class_counts": counts.tolist(),
            "selected_epoch": result.selected_epoch,
            "resumed_from_epoch": result.resumed_from,
            "device": str(torch_device),
            "threads": torch.get_num_threads(),
            "wall_time_s": round(time.perf_counter() - began, 3),
            "versions": {
                "torch": torch.__version__,
                "numpy": np.__version__,
                "python": platform.python_version(),
            },
        },
    )
    return result
