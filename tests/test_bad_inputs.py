"""Bad input, as a careless or hostile user gives it, on a copy of a completed run.

Each case checks the one line the user sees and that nothing already computed was
deleted or changed (sha256 of every file under ``results/``, before and after). The
start-up cases run Snakemake itself; the job-time cases call the stage a job runs.
"""

from __future__ import annotations

import copy
import hashlib
import math
import shutil

import numpy as np
import pytest
import torch
import yaml
from advtail.data.arrays import ImageSet, save_image_set
from advtail.errors import AdvtailError, DataFileError
from conftest import copy_workflow, make_image_set, set_at
from test_workflow import planned_jobs, snakemake

pytestmark = pytest.mark.bad_input

BASE = {
    "experiment": "bad-input",
    "seed": 0,
    "device": "cpu",
    "datasets": {
        "digits": {
            "source": "digits",
            "image_size": 8,
            "channels": 1,
            "test_fraction": 0.25,
            "val_per_class": 5,
            "split_seed": 0,
        }
    },
    "subsets": {
        "lt20": {"dataset": "digits", "profile": "exponential", "imbalance_ratio": 20, "seed": 0}
    },
    "classifiers": {
        "ce_lt20": {
            "role": "annotator",
            "subset": "lt20",
            "arch": {"name": "small_cnn", "width": 4},
            "loss": {"name": "ce"},
            "optimizer": {"name": "sgd", "lr": 0.05, "momentum": 0.9},
            "epochs": 2,
            "batch_size": 32,
            "select": "best_val",
            "seed": 0,
        }
    },
}
GAN = {
    "subset": "lt20",
    "head": "projection",
    "arch": {"name": "sndcgan", "g_width": 4, "d_width": 4, "latent_dim": 8},
    "loss": {"name": "hinge"},
    "optimizer": {"lr_g": 0.0002, "lr_d": 0.0002, "betas": [0.5, 0.999]},
    "steps": 4,
    "batch_size": 8,
}


def checksums(root) -> dict:
    """sha256 of every file under ``root`` (what a bad input must leave as it was)."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def error_lines(result) -> list[str]:
    text = result.stdout + result.stderr
    return [line for line in text.splitlines() if "error" in line.lower()]


@pytest.fixture(scope="module")
def done(tmp_path_factory):
    """A copy of the workflow whose small base config has run to the end."""
    root = copy_workflow(tmp_path_factory.mktemp("bad_input"))
    (root / "config/base.yaml").write_text(yaml.safe_dump(BASE, sort_keys=False))
    snakemake(root, "--cores", "2", "--configfile", "config/base.yaml")
    return root


def with_change(change) -> dict:
    config = copy.deepcopy(BASE)
    change(config)
    return config


def _set(path: str, value):
    """A change that sets the dotted ``path`` of the config to ``value``."""

    def change(config):
        set_at(config, path.split("."), value)

    return change


def _with_gan(**overrides):
    def change(config):
        config["gans"] = {"g": {**copy.deepcopy(GAN), **overrides}}

    return change


# Config values caught at start-up: (change, key named, words of the message).
STARTUP = {
    "ratio nan": (_set("subsets.lt20.imbalance_ratio", math.nan), "subsets.lt20.imbalance_ratio"),
    "ratio inf": (_set("subsets.lt20.imbalance_ratio", math.inf), "subsets.lt20.imbalance_ratio"),
    "lr nan": (
        _set("classifiers.ce_lt20.optimizer.lr", math.nan),
        "classifiers.ce_lt20.optimizer.lr",
    ),
    "lr inf": (
        _set("classifiers.ce_lt20.optimizer.lr", math.inf),
        "classifiers.ce_lt20.optimizer.lr",
    ),
    "test fraction nan": (
        _set("datasets.digits.test_fraction", math.nan),
        "datasets.digits.test_fraction",
    ),
    "momentum -inf": (
        _set("classifiers.ce_lt20.optimizer.momentum", -math.inf),
        "classifiers.ce_lt20.optimizer.momentum",
    ),
    "val larger than a class": (
        _set("datasets.digits.val_per_class", 500),
        "datasets.digits.val_per_class",
    ),
    "huge n_max": (_set("subsets.lt20.n_max", 10**6), "subsets.lt20.n_max"),
    "ratio that empties classes": (_set("subsets.lt20.imbalance_ratio", 10**6), "subsets.lt20"),
    "seed 2^70": (_set("classifiers.ce_lt20.seed", 2**70), "classifiers.ce_lt20.seed"),
    "subset seed 2^64": (_set("subsets.lt20.seed", 2**64), "subsets.lt20.seed"),
    "global seed 2^40": (_set("seed", 2**40), "seed"),
    "classifier batch 10^12": (
        _set("classifiers.ce_lt20.batch_size", 10**12),
        "classifiers.ce_lt20.batch_size",
    ),
    "gan batch 10^12": (_with_gan(batch_size=10**12), "gans.g.batch_size"),
    "gan samples 10^13": (_with_gan(samples={"count": 10**13}), "gans.g.samples.count"),
}
if not torch.cuda.is_available():
    STARTUP["cuda without a gpu"] = (_set("device", "cuda"), "device")


def run_bad_config(root, text: str):
    config = root / "config/bad.yaml"
    config.write_text(text)
    before = checksums(root / "results")
    result = snakemake(root, "--cores", "1", "--configfile", "config/bad.yaml", check=False)
    assert checksums(root / "results") == before  # nothing deleted or changed
    return result


@pytest.mark.parametrize("case", sorted(STARTUP))
def test_bad_value_stops_the_run_before_any_job(done, case):
    change, key = STARTUP[case]
    result = run_bad_config(done, yaml.safe_dump(with_change(change), sort_keys=False))
    assert result.returncode == 1
    lines = error_lines(result)
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"Config error: config key '{key}'"), lines[0]


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a GPU")
def test_gpu_is_not_required_of_a_machine_that_only_submits_jobs(done):
    """A login node without a GPU submits jobs that ask Slurm for one."""
    pytest.importorskip("snakemake_executor_plugin_slurm")
    config = done / "config/cuda.yaml"
    config.write_text(yaml.safe_dump(with_change(_set("device", "cuda"))))
    result = snakemake(done, "-n", "--profile", "profiles/slurm", "--configfile", str(config))
    assert "Config error" not in result.stdout + result.stderr


def test_back_to_the_good_config_has_nothing_to_do(done):
    bad = with_change(_set("datasets.digits.val_per_class", 500))
    assert run_bad_config(done, yaml.safe_dump(bad)).returncode == 1
    result = snakemake(done, "-n", "--configfile", "config/base.yaml")
    assert planned_jobs(result) == {}


DUPLICATES = {  # (text replaced, replacement, the key written twice)
    "classifier": (
        "classifiers:\n  ce_lt20:\n",
        "classifiers:\n  ce_lt20: {subset: lt20}\n  ce_lt20:\n",
        "ce_lt20",
    ),
    "subset": ("subsets:\n", "subsets:\n  lt20: {dataset: digits, profile: full}\n", "lt20"),
}


@pytest.mark.parametrize("case", sorted(DUPLICATES))
def test_key_defined_twice_is_rejected(done, case):
    old, new, key = DUPLICATES[case]
    text = yaml.safe_dump(BASE, sort_keys=False)
    assert old in text
    result = run_bad_config(done, text.replace(old, new, 1))
    assert result.returncode == 1
    lines = error_lines(result)
    assert len(lines) == 1, lines
    assert lines[0].startswith("Config error: ") and "config/bad.yaml: key " in lines[0]
    assert f"'{key}' defined twice" in lines[0]


def test_deleted_sidecar_is_rebuilt(done, tmp_path):
    root = copy_workflow(tmp_path)
    shutil.copytree(done / "results", root / "results")
    shutil.copytree(done / ".snakemake", root / ".snakemake", symlinks=True)
    shutil.copy2(done / "config/base.yaml", root / "config/base.yaml")
    sidecar = root / "results/datasets/digits/val.json"
    original = sidecar.read_text()
    sidecar.unlink()
    plan = planned_jobs(snakemake(root, "-n", "--configfile", "config/base.yaml"))
    assert plan.get("prepare_dataset") == 1
    snakemake(root, "--cores", "2", "--configfile", "config/base.yaml")
    assert sidecar.read_text() == original
    # the jobs below it resumed from their finished checkpoints; all is up to date
    assert planned_jobs(snakemake(root, "-n", "--configfile", "config/base.yaml")) == {}


def only_error_with(done, path, content: bytes) -> str:
    """Run the base config with ``path`` holding ``content``: the run must stop before any
    job, with one error line (returned), and change nothing under results/. ``path`` gets
    its bytes back after."""
    original = path.read_bytes()
    try:
        path.write_bytes(content)
        before = checksums(done / "results")
        result = snakemake(done, "--cores", "1", "--configfile", "config/base.yaml", check=False)
        assert checksums(done / "results") == before
        assert result.returncode == 1
        lines = error_lines(result)
        assert len(lines) == 1, lines
        return lines[0]
    finally:
        path.write_bytes(original)


@pytest.mark.parametrize(
    "content,problem",
    [("{not json", "not valid JSON"), ("[1, 2]", "expected a JSON object")],
)
def test_corrupt_sidecar_stops_the_run_before_any_job(done, content, problem):
    sidecar = done / "results/subsets/digits/lt20/subset.json"
    original = sidecar.read_bytes()
    line = only_error_with(done, sidecar, content.encode())
    assert line.startswith("Data file error: results/subsets/digits/lt20/subset.json: ")
    assert problem in line and "delete it" in line
    assert sidecar.read_bytes() == original


@pytest.mark.parametrize("cut", ["truncated", "overwritten"])
def test_broken_figure_stops_the_run_before_any_job(done, cut):
    figure = next(iter(sorted((done / "results").rglob("*.png"))))
    original = figure.read_bytes()
    broken = original[:-100] if cut == "truncated" else b"not a picture"
    line = only_error_with(done, figure, broken)
    relative = figure.relative_to(done)
    assert line.startswith(f"Data file error: {relative}: not a whole PNG"), line
    assert "delete it" in line
    assert figure.read_bytes() == original


# ------------------------------------------------------------------ job-time cases


def one_line(err: BaseException) -> str:
    message = str(err)
    assert "\n" not in message, message
    return message


def _split(tmp_path, name, counts, size=8, channels=1, names=None) -> str:
    image_set = make_image_set(counts, image_size=size, channels=channels)
    if names is not None:
        image_set = ImageSet(image_set.images, image_set.labels, names, meta=image_set.meta)
    path = tmp_path / f"{name}.npz"
    save_image_set(path, image_set, split=name)
    return str(path)


CLASSIFIER = copy.deepcopy(BASE["classifiers"]["ce_lt20"]) | {"epochs": 1}


def _train(tmp_path, train, val, cfg=CLASSIFIER):
    from advtail.stages.train_classifier import train_classifier

    out = tmp_path / "out"
    return train_classifier(
        "c",
        cfg,
        train,
        val,
        out / "model.pt",
        out / "log.csv",
        out / "meta.json",
        tmp_path / "ckpt/last.pt",
        device="cpu",
    )


SPLIT_MISMATCH = {
    "image size": ({"size": 16}, "image size 16x16 differ from 8x8"),
    "channels": ({"channels": 3}, "channels 3 differ from 1"),
    "class names": ({"names": [f"d{k}" for k in range(3)]}, "class names"),
}


@pytest.mark.parametrize("case", sorted(SPLIT_MISMATCH))
def test_validation_split_that_differs_from_train_is_named(tmp_path, case):
    overrides, words = SPLIT_MISMATCH[case]
    train = _split(tmp_path, "train", [6, 6, 6])
    val = _split(tmp_path, "val", [2, 2, 2], **overrides)
    before = checksums(tmp_path)
    with pytest.raises(DataFileError) as caught:
        _train(tmp_path, train, val)
    message = one_line(caught.value)
    assert message.startswith(f"{val}: ") and words in message and train in message
    assert checksums(tmp_path) == before


def test_test_split_of_other_channels_is_named_not_a_torch_traceback(tmp_path):
    from advtail.stages.evaluate_classifier import evaluate_classifier

    train = _split(tmp_path, "train", [6, 6, 6])
    _train(tmp_path, train, _split(tmp_path, "val", [2, 2, 2]))
    test = _split(tmp_path, "test", [2, 2, 2], channels=3)
    before = checksums(tmp_path)
    with pytest.raises(DataFileError) as caught:
        evaluate_classifier(
            tmp_path / "out/model.pt", test, tmp_path / "m.json", tmp_path / "c.csv"
        )
    message = one_line(caught.value)
    assert message.startswith(f"{test}: channels 3, but classifier ") and "channels 1" in message
    assert checksums(tmp_path) == before


@pytest.mark.parametrize("labelled", [0, 2])
def test_fewer_labelled_images_than_classes_is_an_error_naming_the_subset(tmp_path, labelled):
    subset = make_image_set([2, 2, 2], image_size=8)
    labels = np.full(6, -1, dtype=np.int64)
    labels[:labelled] = subset.labels[:labelled]
    subset = ImageSet(subset.images, labels, subset.class_names, meta={"subset": "few"})
    train = tmp_path / "subset.npz"
    save_image_set(train, subset)
    before = checksums(tmp_path)
    with pytest.raises(DataFileError) as caught:
        _train(tmp_path, str(train), _split(tmp_path, "val", [2, 2, 2]))
    message = one_line(caught.value)
    assert message.startswith(f"{train}: {labelled} labelled images for 3 classes")
    assert "subset 'few'" in message
    assert not (tmp_path / "out/model.pt").exists()
    assert {k: v for k, v in checksums(tmp_path).items() if k in before} == before


def test_diverging_classifier_stops_with_one_line(tmp_path):
    from advtail.training.loop import DivergenceError

    cfg = CLASSIFIER | {"optimizer": {"name": "sgd", "lr": 1e30}}
    train = _split(tmp_path, "train", [20, 20, 20])
    with pytest.raises(DivergenceError) as caught:
        _train(tmp_path, train, _split(tmp_path, "val", [2, 2, 2]), cfg)
    assert "not finite" in one_line(caught.value) or "nan" in one_line(caught.value).lower()
    assert isinstance(caught.value, AdvtailError)


def test_checkpoint_that_does_not_fit_is_set_aside_and_training_starts_afresh(tmp_path):
    """Same fingerprint, tensors of another network: the run trains afresh (the same
    weights as a run without it) and keeps the file, instead of failing every rerun."""
    train = _split(tmp_path, "train", [6, 6, 6])
    val = _split(tmp_path, "val", [2, 2, 2])
    clean = _train(tmp_path / "clean", train, val)
    checkpoint = tmp_path / "clean/ckpt/last.pt"
    state = torch.load(checkpoint, weights_only=True)
    state["trainer"]["model"] = {"weight": torch.zeros(3, 3)}
    for run in ("a", "b"):  # twice: a second set-aside file must not replace the first
        target = tmp_path / run / "ckpt/last.pt"
        target.parent.mkdir(parents=True)
        if run == "b":
            shutil.copytree(tmp_path / "a/ckpt", target.parent, dirs_exist_ok=True)
        torch.save(state, target)
        again = _train(tmp_path / run, train, val)
        assert again.resumed_from == clean.resumed_from == 0  # trained afresh
        for key, value in clean.best["model"].items():
            assert torch.equal(value, again.best["model"][key]), key
    stale = sorted(p.name for p in (tmp_path / "b/ckpt").iterdir())
    assert stale == ["last-2.stale", "last.pt", "last.stale"]


def test_checkpoint_missing_keys_is_set_aside(tmp_path):
    from advtail.training.checkpointing import load_resume_state

    path = tmp_path / "last.pt"
    torch.save({"fingerprint": "f", "position": 3}, path)
    assert load_resume_state(path, "f") is None
    assert not path.exists() and (tmp_path / "last.stale").exists()


class _RunsCode:
    """Unpickled, it would call os.getpid (a blocked module's function)."""

    def __reduce__(self):
        import os

        return (os.getpid, ())


@pytest.mark.parametrize("payload", ["class", "code", "garbage"])
def test_model_file_not_ours_says_so_without_advice_to_load_it_unsafely(tmp_path, payload):
    from advtail.nets.classifiers import load_classifier

    path = tmp_path / "model.pt"
    if payload == "class":
        torch.save({"kind": "classifier", "arch": ImageSet}, path)  # a pickled class
        cause = "Unsupported global"
    elif payload == "code":
        torch.save({"kind": "classifier", "arch": _RunsCode()}, path)
        cause = "blocked"
    else:
        path.write_bytes(b"not a zip")
        cause = "torch.load"
    with pytest.raises(DataFileError) as caught:
        load_classifier(path)
    message = one_line(caught.value)
    assert message.startswith(f"{path}: not a model file advtail wrote (torch.load: ")
    assert cause in message and "weights_only" not in message


METRICS_FILES = {
    "classifier metrics": ("classifier_table", "group_accuracy"),
    "gan metrics": ("gan_table", "class_shares"),
    "gan meta": ("gan_table_meta", "wall_time_s"),
}


@pytest.mark.parametrize("case", sorted(METRICS_FILES))
def test_metrics_file_missing_a_key_is_named(tmp_path, case):
    import json

    from advtail.stages.tables import classifier_table, gan_table

    table, key = METRICS_FILES[case]
    classifier = {
        "classifier": "c",
        "accuracy": 0.5,
        "balanced_accuracy": 0.5,
        "group_accuracy": {"head": 1.0, "body": 0.5, "tail": 0.0},
        "class_names": ["a", "b"],
        "per_class_accuracy": [1.0, 0.0],
    }
    gan = {"gan": "g", "fid": 1.0, "kl_uniform": 0.1, "class_names": ["a", "b"]}
    gan["class_shares"] = [0.5, 0.5]
    meta = {"selected": 4, "wall_time_s": 1.0}
    files = {"classifier": classifier, "gan": gan, "meta": meta}
    broken = {"classifier_table": "classifier", "gan_table": "gan", "gan_table_meta": "meta"}
    files[broken[table]].pop(key)
    for name, content in files.items():
        (tmp_path / f"{name}.json").write_text(json.dumps(content))
    out = tmp_path / "table.csv"
    with pytest.raises(DataFileError) as caught:
        if table == "classifier_table":
            classifier_table([tmp_path / "classifier.json"], out)
        else:
            gan_table([tmp_path / "gan.json"], [tmp_path / "meta.json"], out)
    message = one_line(caught.value)
    assert message.startswith(f"{tmp_path / (broken[table] + '.json')}: lacks the key {key}")
    assert not out.exists()
