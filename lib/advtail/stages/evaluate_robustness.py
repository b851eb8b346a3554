"""Rule evaluate_robustness: one classifier under one threat model, every attack of it,
on the test split: ``{threat}.json`` (metrics per attack) and ``{threat}_examples.npz``
(one clean image per class and its adversarial example under each attack)."""

from __future__ import annotations

import logging
import time

import numpy as np
import torch

from advtail.attacks.budgets import budget_value
from advtail.attacks.robustness import attacked_predictions, stratified_indices
from advtail.attacks.threats import AUTOATTACKS, attack_settings, build_attack
from advtail.data.arrays import load_image_set, write_json, write_npz
from advtail.metrics.classification import accuracy_metrics
from advtail.metrics.robustness import robust_flags_of, robust_metrics
from advtail.nets.classifiers import check_classifier_fits, load_classifier
from advtail.nets.inference import to_model_input
from advtail.training.runtime import resolve_device, set_threads
from advtail.workflow.logs import announce

log = logging.getLogger(__name__)


def _example_indices(labels: torch.Tensor, candidates: torch.Tensor) -> torch.Tensor:
    """The first candidate image of each class (a class without one is left out)."""
    first = {}
    for index in candidates.tolist():
        first.setdefault(int(labels[index]), index)
    return torch.tensor([first[k] for k in sorted(first)], dtype=torch.long)


def evaluate_robustness(
    model_path,
    test_path,
    out_json,
    out_examples,
    threat_name: str,
    threat: dict,
    device: str = "auto",
    threads: int | None = None,
) -> dict:
    """Run each attack of ``threat`` (its config entry: norm, eps, attacks, step_fraction,
    restarts, batch_size, seed, images, autoattack) against the classifier on every test
    image (an attack of ``images``, or AutoAttack with ``autoattack.images``, on a fixed
    class-stratified subset of that many) and write the metrics of each, of the worst case
    over the attacks that ran on every image, and examples for the figures."""
    set_threads(threads)
    torch_device = resolve_device(device)
    model, payload = load_classifier(model_path, torch_device)
    test = load_image_set(test_path)
    check_classifier_fits(model_path, payload, test_path, test)
    x = to_model_input(torch.from_numpy(test.images)).to(torch_device)
    y = torch.from_numpy(test.labels).to(torch_device)
    labels = test.labels
    train_counts = payload["class_counts"]
    autoattack_cfg = dict(threat.get("autoattack") or {})
    attack_images = dict(threat.get("images") or {})
    if autoattack_cfg.get("images"):  # both AutoAttacks, on the same images
        for name in AUTOATTACKS:
            attack_images.setdefault(name, autoattack_cfg["images"])
    autoattack_cfg.pop("images", None)
    subsets = {}
    for name, count in attack_images.items():
        if name not in threat["attacks"]:
            continue
        if count >= len(y):  # the rule: at most the whole test split
            log.info("%s on %d >= the %d test images: it runs on all of them", name, count, len(y))
            continue
        subsets[name] = stratified_indices(y, count, threat.get("seed", 0))
    # the subsets are nested (stratified_indices takes the classes in turn, same seed): the
    # examples come from the smallest, so that every attack attacked them
    smallest = min(subsets.values(), key=len, default=torch.arange(len(y)))
    examples = _example_indices(y.cpu(), smallest)
    clean_pred, _ = attacked_predictions(model, None, x, y, threat["batch_size"])
    clean_pred = clean_pred.cpu().numpy()

    results, full_flags = {}, {}
    arrays = {"labels": labels[examples.numpy()], "clean": x[examples].cpu().numpy()}
    for name in threat["attacks"]:
        attack = build_attack(
            name,
            threat["norm"],
            threat["eps"],
            threat["step_fraction"],
            threat["restarts"],
            autoattack_cfg,
        )
        index = subsets.get(name, torch.arange(len(y)))
        keep = torch.searchsorted(index, examples)
        # each attack's random start from the same seed: results do not depend on order
        generator = torch.Generator().manual_seed(threat.get("seed", 0))
        began = time.perf_counter()
        adv_pred, kept = attacked_predictions(
            model, attack, x[index], y[index], threat["batch_size"], generator, keep
        )
        wall = time.perf_counter() - began
        adv_pred = adv_pred.cpu().numpy()
        idx = index.numpy()
        metrics = robust_metrics(labels[idx], clean_pred[idx], adv_pred, train_counts)
        metrics |= {
            "num_attacked": len(idx),
            "wall_time_s": round(wall, 3),
            **attack_settings(name, attack),
        }
        if len(idx) < len(labels):
            metrics["note"] = (
                f"on a fixed class-stratified subset of {len(idx)} of {len(labels)} test "
                f"images (seed {threat.get('seed', 0)})"
            )
        else:
            full_flags[name] = robust_flags_of(labels, clean_pred, adv_pred)
        results[name] = metrics
        arrays[f"adv_{name}"] = kept.cpu().numpy()
        arrays[f"pred_{name}"] = adv_pred[keep.numpy()]
        log.info(
            "%s: robust accuracy %.1f%% on %d images (%.1f s)",
            name,
            100 * metrics["accuracy"],
            len(idx),
            wall,
        )
    if len(set(full_flags) - {"clean"}) > 1:  # with one attack, the worst case is it
        worst = np.logical_and.reduce(list(full_flags.values()))
        results["worst_case"] = accuracy_metrics(labels, worst, train_counts) | {
            "num_attacked": len(labels),
            "over": list(full_flags),
        }
    summary = {
        "classifier": payload.get("classifier"),
        "dataset": payload.get("dataset"),
        "subset": payload.get("subset"),
        "threat": threat_name,
        "norm": threat["norm"],
        "eps": budget_value(threat["eps"]),
        "eps_label": str(threat["eps"]),
        "class_names": list(test.class_names),
        "train_counts": [int(c) for c in train_counts],
        "num_test": len(labels),
        "attacks": results,
    }
    write_json(out_json, summary)
    announce(
        "classifier %s under %s: accuracy %s",
        summary["classifier"],
        threat_name,
        ", ".join(f"{attack} {result['accuracy']:.3f}" for attack, result in results.items()),
    )
    write_npz(out_examples, arrays)
    return summary
