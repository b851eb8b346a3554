"""Shared fixtures: the repository root and small synthetic image sets."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "lib"))

from advtail.data.arrays import ImageSet  # noqa: E402

SCHEMA = REPO / "config" / "schema" / "config.schema.yaml"
DEFAULT_CONFIG = REPO / "config" / "config.yaml"


WORKFLOW_PARTS = ["Snakefile", "workflow", "config", "lib", "profiles", "envs"]


def copy_workflow(dest: Path) -> Path:
    """A copy of the workflow (no results) in ``dest``, to run Snakemake on."""
    import shutil

    for name in WORKFLOW_PARTS:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, dest / name)
    return dest


def make_image_set(counts, image_size=2, channels=1, seed=0) -> ImageSet:
    """Images whose pixels encode their row index, labels laid out class by class."""
    labels = np.concatenate([np.full(n, k, dtype=np.int64) for k, n in enumerate(counts)])
    rng = np.random.default_rng(seed)
    labels = labels[rng.permutation(len(labels))]
    images = np.zeros((len(labels), image_size, image_size, channels), dtype=np.uint8)
    images[:, 0, 0, 0] = np.arange(len(labels)) % 251
    names = [f"c{k}" for k in range(len(counts))]
    return ImageSet(images, labels, names, meta={"dataset": "toy", "sha256": "0" * 64})


def set_at(config, parts, value) -> None:
    """Set the entry of ``config`` at the key path ``parts`` (names, or indices of lists)."""
    *parents, last = parts
    node = config
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    node[int(last) if isinstance(node, list) else last] = value


@pytest.fixture
def repo() -> Path:
    return REPO


def write_source(path: Path, text: str) -> None:
    """Write a (dedented) source file, making its folders: toy packages for import tests."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
