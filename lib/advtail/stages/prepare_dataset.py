"""Rule prepare_dataset: the canonical train / val / test files of one dataset."""

from __future__ import annotations

import logging
from pathlib import Path

from advtail.data.arrays import save_image_set
from advtail.data.sources import build_splits

log = logging.getLogger(__name__)


def prepare_dataset(name: str, cfg: dict, outputs: dict[str, str | Path]) -> dict[str, dict]:
    """Build every split of dataset ``name`` and write each to ``outputs[split]``."""
    splits = build_splits(name, cfg)
    sidecars = {}
    for split, image_set in splits.items():
        sidecars[split] = save_image_set(outputs[split], image_set)
        log.info(
            "%s/%s: %d images, counts %s",
            name,
            split,
            len(image_set.labels),
            sidecars[split]["class_counts"],
        )
    return sidecars
