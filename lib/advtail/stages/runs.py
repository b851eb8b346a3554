"""What every training stage writes beside its model: the code it ran and ``meta.json``."""

from __future__ import annotations

import platform
import time
from pathlib import Path

import numpy as np
import torch

from advtail.workflow.imports import lib_sources
from advtail.workflow.logs import announce


def stage_code_files(stage_file: str | Path, code_files=None) -> list:
    """The lib files a training's checkpoint fingerprint hashes.

    Under Snakemake these are the lib files the rule lists as inputs (``code_files``);
    called directly, the import graph of the stage module itself.
    """
    if code_files:
        return [Path(f) for f in code_files]
    lib_root = Path(stage_file).resolve().parents[2]
    return lib_sources(stage_file, lib_root) + [Path(stage_file)]


def run_meta(
    kind: str, name: str, cfg: dict, run, unit: str, device, began: float, **extra
) -> dict:
    """``meta.json`` of a training run, the same fields for every trainer.

    ``run`` is the loop's :class:`~advtail.training.loop.TrainingRun`; ``unit`` is
    ``epoch`` or ``step``; ``extra`` adds the stage's own fields.
    """
    return {
        kind: name,
        "config": cfg,
        "seed": cfg.get("seed"),
        **extra,
        "unit": unit,
        "done": run.position,
        "resumed_from": run.resumed_from,
        "selected": run.selected,
        "device": str(device),
        "threads": torch.get_num_threads(),
        "wall_time_s": round(time.perf_counter() - began, 3),
        "versions": {
            "torch": torch.__version__,
            "numpy": np.__version__,
            "python": platform.python_version(),
        },
    }


def announce_training(kind: str, name: str, run, unit: str, keys, began: float) -> None:
    """The console headline of a finished training: the kept unit and its validation
    numbers (``keys``: (log column, label) pairs; those the kept row has are shown)."""
    kept = next((row for row in run.rows if row.get(unit) == run.selected), {})
    numbers = ", ".join(f"{label} {kept[key]:.3g}" for key, label in keys if key in kept)
    announce(
        "%s %s: kept %s %d of %d%s (%.0f s)",
        kind,
        name,
        unit,
        run.selected,
        run.position,
        f", {numbers}" if numbers else "",
        time.perf_counter() - began,
    )
