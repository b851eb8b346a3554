"""Rule classification_accuracy_score (Ravuri & Vinyals, 2019): train on a GAN's
samples, test on real data.

Train a classifier on generated samples with their labels (the conditioning labels of
a conditional GAN; the labeller's for an unconditional one), then measure its accuracy
on the real, balanced test split. The recipe (architecture, loss, optimiser, epochs) is
a configured classifier's (role ``cas``), whose own run on real data is the baseline.
The model kept is the last epoch's: nothing real is used for training or selection.
"""

from __future__ import annotations

from pathlib import Path

from advtail.data.arrays import check_same_form, load_image_set, write_json
from advtail.stages.evaluate_classifier import evaluate_classifier
from advtail.stages.train_classifier import train_classifier
from advtail.workflow.logs import announce


def cas_recipe(cfg: dict) -> dict:
    """The recipe of a CAS classifier: the configured one, selecting the last epoch."""
    return {**cfg, "select": "last", "role": "cas"}


def classification_accuracy_score(
    name: str,
    recipe: dict,
    samples_path,
    val_path,
    test_path,
    out_dir,
    checkpoint_path,
    device: str = "auto",
    threads: int | None = None,
    code_files=None,
) -> dict:
    """Train ``recipe`` on ``samples_path``; test it on ``test_path``; return metrics.json.

    ``out_dir`` receives model.pt, log.csv, meta.json, metrics.json and confusion.csv
    (the classifier stage's files). ``val_path`` only fills the training log.
    """
    out_dir = Path(out_dir)
    samples = load_image_set(samples_path)
    check_same_form(
        {
            samples_path: samples,
            val_path: load_image_set(val_path),
            test_path: load_image_set(test_path),
        }
    )
    train_classifier(
        name,
        cas_recipe(recipe),
        samples_path,
        val_path,
        out_dir / "model.pt",
        out_dir / "log.csv",
        out_dir / "meta.json",
        checkpoint_path,
        device=device,
        threads=threads,
        code_files=code_files,
        headline=False,
    )
    metrics = evaluate_classifier(
        out_dir / "model.pt",
        test_path,
        out_dir / "metrics.json",
        out_dir / "confusion.csv",
        device=device,
        threads=threads,
        headline=False,
    )
    metrics |= {
        "gan": samples.meta.get("gan"),
        "cas_accuracy": metrics["accuracy"],
        "cas_balanced_accuracy": metrics["balanced_accuracy"],
        "cas_recipe": name,
        "num_train_samples": int(len(samples.labels)),
    }
    write_json(out_dir / "metrics.json", metrics)
    announce(
        "CAS of GAN %s (%s on %d samples): real-test accuracy %.3f, balanced %.3f",
        metrics["gan"],
        name,
        metrics["num_train_samples"],
        metrics["cas_accuracy"],
        metrics["cas_balanced_accuracy"],
    )
    return metrics
