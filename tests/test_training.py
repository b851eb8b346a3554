"""The classifier trainer: resume after interruption, schedules, augmentation, model files."""

import json
import logging
import shutil

import numpy as np
import pandas as pd
import pytest
import torch
from advtail.data.arrays import ImageSet, save_image_set
from advtail.data.augment import random_crop_flip
from advtail.errors import DataFileError
from advtail.metrics.classification import classification_metrics, confusion_matrix
from advtail.nets.classifiers import load_classifier
from advtail.stages.evaluate_classifier import evaluate_classifier
from advtail.stages.train_classifier import train_classifier
from advtail.training.schedules import warmup_step_lr
from conftest import REPO

CFG = {
    "arch": {"name": "small_cnn", "width": 4},
    "loss": {"name": "focal", "gamma": 1.0},
    "reweighting": {"name": "drw", "beta": 0.999, "start_epoch": 2},
    "optimizer": {"name": "sgd", "lr": 0.05, "momentum": 0.9, "weight_decay": 5e-4},
    "schedule": {"warmup_epochs": 1, "milestones": [3], "factors": [0.1]},
    "epochs": 4,
    "batch_size": 16,
    "augment": {"crop_padding": 1, "flip": True},
    "select": "best_val",
    "normalize": "auto",
    "seed": 3,
    "role": "in_loop",
}


def blobs(counts, seed, size=8):
    """Class k: a bright square at a class-specific place on noise (learnable quickly)."""
    rng = np.random.default_rng(seed)
    labels = np.concatenate([np.full(n, k) for k, n in enumerate(counts)]).astype(np.int64)
    images = rng.integers(0, 60, (len(labels), size, size, 1)).astype(np.uint8)
    for i, k in enumerate(labels):
        r, c = divmod(int(k), 2)
        images[i, 4 * r : 4 * r + 3, 4 * c : 4 * c + 3] = 230
    return ImageSet(images, labels, ["a", "b", "c", "d"], meta={"dataset": "blobs"})


@pytest.fixture
def files(tmp_path):
    train = blobs([40, 20, 10, 6], seed=0)
    train.meta["subset"] = "lt"
    paths = {name: tmp_path / f"{name}.npz" for name in ("train", "val", "test")}
    save_image_set(paths["train"], train)
    save_image_set(paths["val"], blobs([5, 5, 5, 5], seed=1))
    save_image_set(paths["test"], blobs([10, 10, 10, 10], seed=2))
    return paths


def run(files, out, cfg=CFG, **kwargs):
    return train_classifier(
        "toy",
        cfg,
        files["train"],
        files["val"],
        out / "model.pt",
        out / "log.csv",
        out / "meta.json",
        out / "ckpt" / "last.pt",
        device="cpu",
        threads=1,
        **kwargs,
    )


class Interrupt(Exception):
    pass


def test_interrupted_training_resumes_to_the_same_weights(files, tmp_path):
    whole = run(files, tmp_path / "whole")

    def stop_after_second(epoch, row):
        if epoch == 1:
            raise Interrupt

    with pytest.raises(Interrupt):
        run(files, tmp_path / "parts", on_epoch_end=stop_after_second)
    assert not (tmp_path / "parts" / "model.pt").exists()
    assert (tmp_path / "parts" / "ckpt" / "last.pt").exists()
    resumed = run(files, tmp_path / "parts")
    assert resumed.resumed_from == 2
    assert whole.selected == resumed.selected
    for key, value in whole.best["model"].items():
        assert torch.equal(value, resumed.best["model"][key]), key
    assert pd.read_csv(tmp_path / "parts" / "log.csv")["epoch"].tolist() == [1, 2, 3, 4]
    meta = json.loads((tmp_path / "parts" / "meta.json").read_text())
    assert meta["resumed_from"] == 2 and meta["unit"] == "epoch" and meta["done"] == 4


def test_checkpoint_of_another_config_is_set_aside(files, tmp_path):
    out = tmp_path / "run"
    run(files, out, cfg={**CFG, "epochs": 2})
    changed = run(files, out, cfg={**CFG, "epochs": 3, "seed": 4})
    assert changed.resumed_from == 0
    assert (out / "ckpt" / "last.stale").exists()


def test_training_learns_and_logs(files, tmp_path):
    out = tmp_path / "run"
    # no flip here: the blobs of classes 0/1 and 2/3 are mirror images of each other
    result = run(files, out, cfg={**CFG, "epochs": 6, "augment": {"crop_padding": 1}})
    log = pd.read_csv(out / "log.csv")
    assert list(log["epoch"]) == list(range(1, 7))
    assert log["reweighted"].tolist() == [False, False, True, True, True, True]
    assert log["lr"].tolist() == pytest.approx([0.05, 0.05, 0.05, 0.005, 0.005, 0.005])
    assert log["val_balanced_accuracy"].max() > 0.9
    best = log["val_balanced_accuracy"].idxmax()
    assert (
        log.loc[result.selected - 1, "val_balanced_accuracy"]
        == log.loc[best, "val_balanced_accuracy"]
    )
    metrics = evaluate_classifier(
        out / "model.pt", files["test"], out / "metrics.json", out / "confusion.csv", device="cpu"
    )
    assert metrics["accuracy"] > 0.9
    assert metrics["groups"] == ["head", "body", "body", "tail"]
    assert set(metrics["group_accuracy"]) == {"head", "body", "tail"}
    confusion = pd.read_csv(out / "confusion.csv", index_col=0)
    assert confusion.to_numpy().sum() == 40


def test_model_file_loads_with_weights_only(files, tmp_path):
    out = tmp_path / "run"
    run(files, out, cfg={**CFG, "epochs": 1})
    payload = torch.load(out / "model.pt", weights_only=True)
    assert payload["arch"]["name"] == "small_cnn" and payload["class_counts"] == [40, 20, 10, 6]
    model, _ = load_classifier(out / "model.pt")
    assert not model.training


@pytest.mark.bad_input
def test_bad_model_files_are_named(files, tmp_path):
    out = tmp_path / "run"
    run(files, out, cfg={**CFG, "epochs": 1})
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"\x00not a torch file")
    with pytest.raises(DataFileError, match="garbage.pt: not a model file advtail wrote"):
        load_classifier(garbage)
    with pytest.raises(DataFileError, match="train.npz: not a model file advtail wrote"):
        load_classifier(files["train"])
    payload = torch.load(out / "model.pt", weights_only=True)
    torch.save({**payload, "kind": "generator"}, tmp_path / "wrong_kind.pt")
    with pytest.raises(DataFileError, match="expected a classifier model file"):
        load_classifier(tmp_path / "wrong_kind.pt")
    payload["arch"] = {**payload["arch"], "name": "resnet32", "width": 16}
    torch.save(payload, tmp_path / "wrong_arch.pt")
    with pytest.raises(DataFileError, match="wrong_arch.pt: weights do not fit architecture"):
        load_classifier(tmp_path / "wrong_arch.pt")
    with pytest.raises(DataFileError, match="file not found"):
        load_classifier(tmp_path / "absent.pt")


def test_lr_schedule_of_ldam_drw():
    lr = [warmup_step_lr(e, 0.1, 5, [160, 180], [0.01, 0.0001]) for e in range(200)]
    assert lr[:5] == pytest.approx([0.02, 0.04, 0.06, 0.08, 0.1])
    assert lr[159] == 0.1 and lr[160] == pytest.approx(0.001) and lr[180] == pytest.approx(1e-5)


def test_crop_and_flip():
    x = torch.arange(2 * 1 * 4 * 4, dtype=torch.float32).view(2, 1, 4, 4)
    generator = torch.Generator().manual_seed(0)
    assert torch.equal(random_crop_flip(x, generator), x)
    flipped = random_crop_flip(x.repeat(64, 1, 1, 1), torch.Generator().manual_seed(0), flip=True)
    mirrored = (flipped == x.repeat(64, 1, 1, 1).flip(3)).flatten(1).all(1)
    unchanged = (flipped == x.repeat(64, 1, 1, 1)).flatten(1).all(1)
    assert (mirrored | unchanged).all() and 34 < mirrored.sum() < 94
    cropped = random_crop_flip(x, torch.Generator().manual_seed(1), padding=2)
    assert cropped.shape == x.shape
    # every output pixel is either padding (-1) or an input pixel of the same image
    for i in range(2):
        values = set(cropped[i].flatten().tolist())
        assert values <= set(x[i].flatten().tolist()) | {-1.0}
    again = random_crop_flip(x, torch.Generator().manual_seed(1), padding=2)
    assert torch.equal(cropped, again)


def test_metrics_known_values():
    y_true = np.array([0, 0, 0, 0, 1, 1, 2, 2])
    y_pred = np.array([0, 0, 0, 1, 1, 0, 2, 1])
    assert confusion_matrix(y_true, y_pred, 3).tolist() == [[3, 1, 0], [1, 1, 0], [0, 1, 1]]
    metrics = classification_metrics(y_true, y_pred, train_counts=[100, 10, 1])
    assert metrics["accuracy"] == pytest.approx(5 / 8)
    assert metrics["balanced_accuracy"] == pytest.approx((0.75 + 0.5 + 0.5) / 3)
    assert metrics["per_class_accuracy"] == pytest.approx([0.75, 0.5, 0.5])
    assert metrics["group_accuracy"] == pytest.approx({"head": 0.75, "body": 0.5, "tail": 0.5})


def test_resume_survives_unrelated_edits_but_not_edits_of_its_own_code(files, tmp_path):
    """The fingerprint hashes exactly the lib files the rule lists (its import graph)."""
    from advtail.workflow.imports import lib_sources

    lib = tmp_path / "lib"
    shutil.copytree(REPO / "lib", lib, ignore=shutil.ignore_patterns("__pycache__"))
    script = REPO / "workflow" / "scripts" / "train_classifier.py"

    def code():
        return lib_sources(script, lib)

    names = {str(p.relative_to(lib)) for p in code()}
    assert "advtail/training/classifier.py" in names
    assert "advtail/plots/grids.py" not in names and "advtail/nets/gans.py" not in names
    whole = run(files, tmp_path / "whole", code_files=code())

    def stop_after_second(epoch, row):
        if epoch == 1:
            raise Interrupt

    with pytest.raises(Interrupt):
        run(files, tmp_path / "parts", on_epoch_end=stop_after_second, code_files=code())
    grids = lib / "advtail" / "plots" / "grids.py"
    grids.write_text(grids.read_text() + "\n# restyled\n")  # an unrelated module
    resumed = run(files, tmp_path / "parts", code_files=code())
    assert resumed.resumed_from == 2
    for key, value in whole.best["model"].items():
        assert torch.equal(value, resumed.best["model"][key]), key
    # an edit of the trainer itself: the checkpoint is set aside, training starts afresh
    with pytest.raises(Interrupt):
        run(files, tmp_path / "again", on_epoch_end=stop_after_second, code_files=code())
    trainer = lib / "advtail" / "training" / "classifier.py"
    trainer.write_text(trainer.read_text() + "\n# changed\n")
    rerun = run(files, tmp_path / "again", code_files=code())
    assert rerun.resumed_from == 0
    assert (tmp_path / "again" / "ckpt" / "last.stale").exists()


def test_a_loss_that_uses_features_gets_them_with_the_logits():
    """REAT's TAIL needs penultimate features: the trainer computes them once."""
    from advtail.losses.classification import ClassWeightSchedule, CrossEntropyLoss
    from advtail.nets.classifiers import build_classifier
    from advtail.training.classifier import ClassifierTrainer

    class FeatureLoss(CrossEntropyLoss):
        uses_features = True

        def __init__(self):
            super().__init__()
            self.seen = []

        def forward(self, logits, targets, weight=None, features=None):
            self.seen.append((tuple(logits.shape), tuple(features.shape)))
            return super().forward(logits, targets, weight) + 0.0 * features.sum()

    arch = {"name": "small_cnn", "width": 4, "num_classes": 4, "channels": 1}
    model = build_classifier({**arch, "mean": [0.5], "std": [0.5]})
    loss = FeatureLoss()
    trainer = ClassifierTrainer(
        model, loss, ClassWeightSchedule(None, [1, 1, 1, 1]), {**CFG, "epochs": 1}, "cpu"
    )
    data = blobs([8, 8, 8, 8], seed=0)
    trainer.train_data = (torch.as_tensor(data.images), torch.as_tensor(data.labels))
    trainer.train_unit(0)
    assert loss.seen and all(f == (n, 16) and lg == (n, 4) for lg, f in loss.seen for n in [lg[0]])


class _CountingTrainer:
    """The least a trainer gives the loop: a unit that counts, a score per validation."""

    unit = "step"
    progress_keys = ()

    def __init__(self):
        self.model = torch.nn.Linear(1, 1)
        self.done = 0

    def train_unit(self, position):
        self.done += 1
        return {"loss": float(position)}

    def validate(self, done):
        return float(done), {"val_score": float(done)}

    def kept_model(self):
        return self.model

    def state_dict(self):
        return {"done": self.done}

    def load_state_dict(self, state):
        self.done = state["done"]


def test_every_validation_is_logged_on_a_logging_step_or_not(tmp_path):
    from advtail.training.loop import LoopPlan, run_loop

    plan = LoopPlan(total=6, log_every=3, checkpoint_every=6, validate_every=2)
    run = run_loop(_CountingTrainer(), plan, tmp_path / "last.pt", "fp")
    assert [row["step"] for row in run.rows] == [2, 3, 4, 6]
    assert [row.get("val_score") for row in run.rows] == [2.0, None, 4.0, 6.0]


def test_log_lines_are_plain_and_carry_validation_and_the_kept_mark(tmp_path, caplog):
    from advtail.training.loop import LoopPlan, run_loop

    plan = LoopPlan(total=6, log_every=3, checkpoint_every=6, validate_every=2)
    with caplog.at_level(logging.INFO, logger="advtail.training.loop"):
        run_loop(_CountingTrainer(), plan, tmp_path / "last.pt", "fp")
    lines = [r.getMessage() for r in caplog.records if r.name == "advtail.training.loop"]
    steps = [line.split(" (")[0] for line in lines]
    assert steps == ["step 2/6", "step 3/6", "step 4/6", "step 6/6"]
    # validated rows show their metric; the score rises, so every validation is kept
    assert "val_score=2" in lines[0] and lines[0].endswith("[best so far, kept]")
    assert "val_score" not in lines[1] and "kept" not in lines[1]
    assert not any("\r" in line for line in lines)


def test_a_finished_training_announces_its_kept_unit_on_the_console(tmp_path, capsys):
    from advtail.stages.runs import announce_training
    from advtail.training.loop import TrainingRun
    from advtail.workflow.logs import rule_log

    rows = [{"step": 2, "val_fid_annotator": 30.0}, {"step": 4, "val_fid_annotator": 12.345}]
    run = TrainingRun(position=6, rows=rows + [{"step": 6, "val_fid_annotator": 20.0}])
    run.best["position"] = 4
    with rule_log(tmp_path / "job.log"):
        announce_training("GAN", "g", run, "step", (("val_fid_annotator", "val FID"),), 0.0)
    console = capsys.readouterr().err.strip().splitlines()
    assert len(console) == 1
    assert console[0].startswith("advtail | GAN g: kept step 4 of 6, val FID 12.3 (")
    assert "GAN g: kept step 4 of 6" in (tmp_path / "job.log").read_text()
