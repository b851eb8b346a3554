"""Image grids: a row of samples per class."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def plot_class_grid(
    images: np.ndarray, labels: np.ndarray, class_names, path, per_class=10, title: str = ""
) -> None:
    """One row per class with its first ``per_class`` images (uint8 NHWC); empty cells blank."""
    rows = len(class_names)
    fig, axes = plt.subplots(
        rows, per_class, figsize=(per_class * 0.6, rows * 0.6 + 0.4), squeeze=False
    )
    for k, name in enumerate(class_names):
        members = np.flatnonzero(labels == k)[:per_class]
        for j in range(per_class):
            ax = axes[k, j]
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_visible(False)
            if j < len(members):
                image = images[members[j]]
                ax.imshow(
                    image[:, :, 0] if image.shape[2] == 1 else image, cmap="gray", vmin=0, vmax=255
                )
        axes[k, 0].set_ylabel(
            f"{name} ({int((labels == k).sum())})", rotation=0, ha="right", va="center", fontsize=7
        )
    if title:
        fig.suptitle(title, fontsize=8)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
