"""Shared fixtures: the repository root and small synthetic image sets."""

from __future__ import annotations

import os
import stat
import sys
import tempfile
import textwrap
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "lib"))

from advtail.data.arrays import ImageSet  # noqa: E402

SCHEMA = REPO / "config" / "schema" / "config.schema.yaml"
DEFAULT_CONFIG = REPO / "config" / "config.yaml"


def _failing_scontrol() -> Path:
    """A folder holding an ``scontrol`` that fails at once (see ``workflow_env``)."""
    folder = Path(tempfile.mkdtemp(prefix="advtail-tests-"))
    scontrol = folder / "scontrol"
    scontrol.write_text("#!/bin/sh\necho 'no Slurm controller in this test' >&2\nexit 1\n")
    scontrol.chmod(scontrol.stat().st_mode | stat.S_IXUSR)
    return folder


_NO_CONTROLLER = _failing_scontrol()


def workflow_env(**extra: str) -> dict[str, str]:
    """The environment of a test's Snakemake call (the Slurm test has its own): no
    PYTHONPATH, as a user's shell, and an ``scontrol`` that fails at once. The Slurm
    executor plugin, installed with the test extra, runs ``scontrol show config`` each time
    Snakemake starts; once the Slurm test has stopped its controller that call waits 9 s
    for it, on every later Snakemake call of the suite."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PATH"] = f"{_NO_CONTROLLER}{os.pathsep}{env.get('PATH', '')}"
    return env | extra


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


def pytest_xdist_auto_num_workers(config):
    """One worker more than cores (``-n auto``): the Slurm, report and version tests
    mostly wait (on Slurm's queue, apt, pip), and the spare worker runs tests meanwhile."""
    return (os.cpu_count() or 1) + 1


def pytest_configure(config):
    """One torch thread per xdist worker: the workers (one more than cores) and the
    workflow fixture's jobs already fill the cores, and torch's default of a thread per
    core, spinning while it waits, oversubscribes them (ART's DeepFool test took 10x as
    long). Not OMP_NUM_THREADS: subprocesses would inherit it (``nproc`` honours it, and
    the Slurm test's cluster would get one CPU)."""
    if hasattr(config, "workerinput"):
        import torch

        torch.set_num_threads(1)


# The longest modules first: pytest-xdist (pyproject's addopts) gives each worker whole
# modules, their module fixtures built once, in collection order; a long module begun
# last would run on alone while the other worker idles.
LONGEST_FIRST = (
    "test_workflow.py",
    "test_miniature.py",
    "test_slurm.py",
    "test_snakemake_versions.py",
    "test_bad_inputs.py",
    "test_workflow_plans.py",
)


def pytest_collection_modifyitems(config, items):
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))
