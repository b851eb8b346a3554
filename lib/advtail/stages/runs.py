"""What every training stage writes beside its model: the code it ran and ``meta.json``."""

from __future__ import annotations

import platform
import time
from pathlib import Path

import numpy as np
import torch

from advtail.workflow.imports import lib_sources


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
