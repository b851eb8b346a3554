"""Rule train_gan: train one configured GAN, resuming from its checkpoint."""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd

from advtail.data.arrays import load_image_set, write_json
from advtail.errors import DataFileError
from advtail.losses.class_balancing import (
    ActivationMaximizationRegularizer,
    ClassBalancingRegularizer,
)
from advtail.losses.gan import build_class_loss, build_gan_objective
from advtail.nets.classifiers import check_classifier_fits, load_classifier
from advtail.nets.discriminators import build_discriminator
from advtail.nets.files import atomic_torch_save, save_model
from advtail.nets.gans import build_generator
from advtail.stages.reference_statistics import load_reference_statistics
from advtail.stages.runs import announce_training, run_meta, stage_code_files
from advtail.training.checkpointing import fingerprint_of
from advtail.training.gan import AnnotatorValidation, GANTrainer
from advtail.training.loop import TrainingRun
from advtail.training.robust_gan import build_discriminator_update
from advtail.training.runtime import resolve_device, seed_everything, set_threads


def gan_architectures(cfg: dict, images, num_classes: int) -> tuple[dict, dict]:
    """The generator's and the discriminator's ``arch`` dicts for training images ``images``."""
    head = cfg.get("head", "none")
    conditional = cfg.get("conditional", head != "none")
    arch = cfg["arch"]
    g_arch = {
        "name": arch["name"],
        "resolution": int(images.shape[1]),
        "channels": int(images.shape[3]),
        "latent_dim": arch.get("latent_dim", 128),
        "width": arch.get("g_width", 64),
        "num_classes": num_classes if conditional else None,
        # a label embedding joined to z (nets.gans): without it the labels reach G only
        # through conditional batch norm, which did not make G follow them
        "label_embedding": arch.get("label_embedding", 64) if conditional else 0,
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
    return g_arch, d_arch


def generator_regularizers(cfg: dict, in_loop_path, subset_path, subset, prior, device) -> list:
    """The configured generator regularizers, on the frozen in-loop classifier: the
    class-balancing regularizer (``regularizer``) and CBGAN's activation maximisation
    (``activation_maximization``, the data-free UAP prior GAN's entropy term)."""
    reg, am = cfg.get("regularizer"), cfg.get("activation_maximization")
    if not (reg or am):
        return []
    classifier, payload = load_classifier(in_loop_path, device)
    # a prior GAN's classifier (the UAP victim) learnt other data: the image form only
    check_classifier_fits(in_loop_path, payload, subset_path, subset, form_only=prior)
    num_classes = int(payload["arch"]["num_classes"])
    regularizers = []
    if reg:
        regularizers.append(
            ClassBalancingRegularizer(
                classifier,
                num_classes,
                reg["lambda"],
                reg.get("form", "code"),
                reg.get("alpha", 0.5),
                reg.get("fixed_frequency"),
                reg.get("floor", 0.1),
            )
        )
    if am:
        regularizers.append(
            ActivationMaximizationRegularizer(classifier, num_classes, am.get("weight", 1.0))
        )
    return regularizers


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
    out_discriminator=None,
    in_loop_path=None,
    annotator_path=None,
    device: str = "auto",
    threads: int | None = None,
    on_step_end=None,
    code_files=None,
    prior: bool = False,
    out_snapshots=None,
) -> TrainingRun:
    """Train GAN ``name`` (its validated config ``cfg``) on a subset and write its files.

    ``out_discriminator``: where the trained discriminator goes (the last one, which
    Rob-GAN fine-tunes; None: not written).
    ``in_loop_path``: the classifier of the generator regularizers (if configured);
    ``prior``: the GAN learns a UAP prior, and the in-loop classifier is the victim,
    trained on other data. ``out_snapshots``: where the generators of the last
    ``cfg['snapshots']`` cycles go (None: not written).
    ``annotator_path``: the classifier that validates (KL to uniform, annotator FID)
    against ``reference_stats``, its feature statistics of a real split (not the test
    split; :mod:`advtail.stages.fid_reference_stats`). ``code_files``: the lib files the
    checkpoint fingerprint hashes (the rule's lib inputs).
    """
    began = time.perf_counter()
    set_threads(threads)
    torch_device = resolve_device(device)
    subset = load_image_set(subset_path)
    head = cfg.get("head", "none")
    conditional = cfg.get("conditional", head != "none")
    keep = subset.labels >= 0 if (conditional or head != "none") else slice(None)
    images, labels = subset.images[keep], subset.labels[keep]
    num_classes = subset.num_classes
    needed = num_classes if conditional else 1
    if len(images) < needed:
        what = "labelled images" if conditional else "images"
        raise DataFileError(
            subset_path,
            f"{len(images)} {what}: GAN '{name}' needs at least {needed} "
            f"(subset '{subset.meta.get('subset', Path(subset_path).parent.name)}')",
        )
    g_arch, d_arch = gan_architectures(cfg, images, num_classes)
    seed_everything(cfg["seed"])
    G, D = build_generator(g_arch), build_discriminator(d_arch)
    regularizers = generator_regularizers(
        cfg, in_loop_path, subset_path, subset, prior, torch_device
    )
    validate = None
    if annotator_path is not None and cfg.get("validate_every"):
        annotator, payload = load_classifier(annotator_path, torch_device)
        check_classifier_fits(annotator_path, payload, subset_path, subset)
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
        class_loss=build_class_loss(cfg.get("class_loss", {})) if head == "ac" else None,
        validate=validate,
        discriminator_update=build_discriminator_update(cfg.get("robust")),
    )
    fingerprint = fingerprint_of(
        stage_code_files(__file__, code_files), cfg, g_arch, d_arch, subset.meta["sha256"]
    )
    run = trainer.fit(images, labels, checkpoint_path, fingerprint, on_step_end)
    final = trainer.final_generator()
    if run.best["model"] is not None:
        final.load_state_dict(run.best["model"])
    # what the generator and discriminator files both say of their run
    about = {
        "gan": name,
        "dataset": subset.meta.get("dataset"),
        "subset": subset.meta.get("subset"),
        "class_names": subset.class_names,
        "config": cfg,
    }
    save_model(out_generator, final, g_arch, kind="generator", selected_step=run.selected, **about)
    if out_discriminator is not None:  # the last one (Rob-GAN fine-tunes it)
        save_model(
            out_discriminator,
            trainer.D,
            d_arch,
            kind="discriminator",
            image_size=int(images.shape[1]),
            step=run.position,
            **about,
        )
    if out_snapshots is not None:
        atomic_torch_save(
            {
                "kind": "generator_snapshots",
                "arch": g_arch,
                "snapshots": trainer.snapshots,
                **about,
            },
            out_snapshots,
        )
    for path, rows in ((out_log, run.rows), (out_cycles, trainer.cycles)):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        # a GAN without a regularizer has no cycles: a header, still a readable table
        frame = (
            pd.DataFrame(rows) if rows else pd.DataFrame(columns=["step", "regularizer", "cycle"])
        )
        frame.to_csv(path, index=False)
    write_json(
        out_meta,
        run_meta(
            "gan",
            name,
            cfg,
            run,
            trainer.unit,
            torch_device,
            began,
            generator=g_arch,
            discriminator=d_arch,
            train_images=int(len(labels)),
        ),
    )
    headline = (("val_fid_annotator", "val FID (annotator)"), ("val_kl_uniform", "KL to uniform"))
    if G.conditional:
        headline += (("val_label_agreement", "label agreement"),)
    announce_training("GAN", name, run, trainer.unit, headline, began)
    return run
