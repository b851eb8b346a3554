"""Rule train_classifier: train one configured classifier, resuming from its checkpoint."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd

from advtail.data.arrays import check_same_form, load_image_set, write_json
from advtail.errors import DataFileError
from advtail.losses.classification import ClassWeightSchedule, build_classification_loss
from advtail.losses.reat import TailFeatureMarginLoss
from advtail.nets.classifiers import SIZED_ARCHITECTURES, build_classifier
from advtail.nets.files import save_model
from advtail.stages.runs import announce_training, run_meta, stage_code_files
from advtail.training.adversarial import AdversarialExamples
from advtail.training.checkpointing import fingerprint_of
from advtail.training.classifier import ClassifierTrainer, resolve_normalization
from advtail.training.loop import TrainingRun
from advtail.training.runtime import resolve_device, seed_everything, set_threads

# the validation numbers a finished training announces (model selection's, and PGD's
# when the recipe is adversarial)
CLASSIFIER_HEADLINE = (
    ("val_balanced_accuracy", "val balanced accuracy"),
    ("val_pgd_balanced_accuracy", "val PGD balanced accuracy"),
)


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
    code_files=None,
    initial_state: dict | None = None,
    extra_term=None,
    fingerprint_inputs=(),
    headline: bool = True,
) -> TrainingRun:
    """Train classifier ``name`` (its validated config ``cfg``) and write its files.

    The labelled images of the subset at ``train_path`` are the training set (images
    labelled -1 are skipped); ``val_path`` is the dataset's validation split.
    ``code_files``: the lib files the checkpoint fingerprint hashes (the rule's lib
    inputs; see :func:`advtail.stages.runs.stage_code_files`).

    Fine-tuning (:mod:`advtail.stages.finetune_discriminator`) starts from
    ``initial_state`` (the network's weights), adds ``extra_term(attack)`` (made from the
    adversarial examples' attack) to each batch's loss, and fingerprints what those came
    from (``fingerprint_inputs``). ``headline``: announce the kept epoch on the console
    (a stage that trains a classifier as one of its steps announces its own result).
    """
    began = time.perf_counter()
    set_threads(threads)
    torch_device = resolve_device(device)
    train, val = load_image_set(train_path), load_image_set(val_path)
    check_same_form({train_path: train, val_path: val})
    labelled = train.labels >= 0
    images, labels = train.images[labelled], train.labels[labelled]
    if len(labels) < train.num_classes:
        raise DataFileError(
            train_path,
            f"{len(labels)} labelled images for {train.num_classes} classes: classifier "
            f"'{name}' needs at least as many labelled images as classes (subset "
            f"'{train.meta.get('subset', Path(train_path).parent.name)}')",
        )
    counts = np.bincount(labels, minlength=train.num_classes)
    mean, std = resolve_normalization(cfg.get("normalize", "auto"), images)
    arch = {
        **cfg["arch"],
        "num_classes": train.num_classes,
        "channels": int(images.shape[-1]),
        "mean": mean,
        "std": std,
    }
    if cfg["arch"]["name"] in SIZED_ARCHITECTURES:
        arch.setdefault("resolution", int(images.shape[1]))
    seed_everything(cfg["seed"])
    model = build_classifier(arch)
    if initial_state is not None:
        model.load_state_dict(initial_state)
    loss = build_classification_loss(cfg["loss"], counts)
    adversarial = cfg.get("adversarial")
    examples = None
    if adversarial:
        examples = AdversarialExamples(adversarial, counts)
        if adversarial.get("tail"):  # REAT's outer loss: the long-tail loss + TAIL
            tail = adversarial["tail"]
            loss = TailFeatureMarginLoss(
                loss, counts, tail["lambda"], tail.get("form", "code"), tail.get("scale", 10.0)
            )
    trainer = ClassifierTrainer(
        model,
        loss,
        ClassWeightSchedule(cfg.get("reweighting"), counts),
        cfg,
        torch_device,
        examples,
        extra_term=None if extra_term is None else extra_term(examples.attack),
    )
    fingerprint = fingerprint_of(
        stage_code_files(__file__, code_files),
        cfg,
        arch,
        train.meta["sha256"],
        val.meta["sha256"],
        *fingerprint_inputs,
    )
    run = trainer.fit(
        (images, labels),
        (val.images, val.labels),
        counts,
        checkpoint_path,
        fingerprint,
        on_epoch_end,
    )
    model.load_state_dict(run.best["model"])
    save_model(
        out_model,
        model,
        arch,
        classifier=name,
        role=cfg.get("role", "other"),
        dataset=train.meta.get("dataset"),
        subset=train.meta.get("subset"),
        class_names=train.class_names,
        image_size=int(images.shape[1]),
        class_counts=counts.tolist(),
        selected_epoch=run.selected,
        config=cfg,
    )
    Path(out_log).parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(run.rows).to_csv(out_log, index=False)
    write_json(
        out_meta,
        run_meta(
            "classifier",
            name,
            cfg,
            run,
            trainer.unit,
            torch_device,
            began,
            arch=arch,
            train_images=int(len(labels)),
            class_counts=counts.tolist(),
            class_names=list(train.class_names),
        ),
    )
    if headline:
        announce_training("classifier", name, run, trainer.unit, CLASSIFIER_HEADLINE, began)
    return run
