"""Image grids: a row of samples per class, drawn pixel for pixel.

The images are laid into one mosaic array and shown with nearest-neighbour upscaling at
a whole-number scale, so 16-pixel digits stay sharp (a grid of PNGs re-rasterised into
another figure would be smoothed and shrunk).
"""

from __future__ import annotations

import numpy as np

from advtail.plots.style import DPI, panel_grid, plt, save_figure

# grey of a cell with no image (a class with fewer samples than the row holds)
EMPTY = 200
# white between cells
GAP = 255


def class_mosaic(
    images: np.ndarray, labels: np.ndarray, num_classes: int, per_class: int = 10, pad: int = 1
) -> np.ndarray:
    """Rows of the first ``per_class`` images of each class as one uint8 (H, W, C) array,
    ``pad`` white pixels between cells; a missing image is a grey cell."""
    _, h, w, c = images.shape
    cell_h, cell_w = h + pad, w + pad
    mosaic = np.full((num_classes * cell_h + pad, per_class * cell_w + pad, c), GAP, np.uint8)
    for k in range(num_classes):
        members = np.flatnonzero(labels == k)[:per_class]
        for j in range(per_class):
            top, left = pad + k * cell_h, pad + j * cell_w
            cell = images[members[j]] if j < len(members) else EMPTY
            mosaic[top : top + h, left : left + w] = cell
    return mosaic


def _show_mosaic(ax, mosaic: np.ndarray, row_labels=None) -> None:
    image = mosaic[:, :, 0] if mosaic.shape[2] == 1 else mosaic
    ax.imshow(image, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
    ax.set_xticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)
    if row_labels is None:
        ax.set_yticks([])
        return
    rows = len(row_labels)
    cell = (mosaic.shape[0] - 1) / rows
    ax.set_yticks(np.arange(rows) * cell + cell / 2, row_labels)
    ax.tick_params(axis="y", length=0)


def _scale(cell_pixels: int, target: int = 40) -> int:
    """The whole-number upscaling that brings a cell near ``target`` screen pixels."""
    return max(1, round(target / cell_pixels))


def plot_class_grid(
    images: np.ndarray, labels: np.ndarray, class_names, path, per_class=10, title: str = ""
) -> None:
    """One row per class with its first ``per_class`` images (uint8 NHWC); each row
    labelled with its class and how many images of it there are."""
    mosaic = class_mosaic(images, labels, len(class_names), per_class)
    scale = _scale(images.shape[1] + 1)
    fig = plt.figure(
        figsize=(mosaic.shape[1] * scale / DPI + 1.3, mosaic.shape[0] * scale / DPI + 0.5),
        dpi=DPI,
    )
    ax = fig.add_subplot()
    row_labels = [f"{name} ({int((labels == k).sum())})" for k, name in enumerate(class_names)]
    _show_mosaic(ax, mosaic, row_labels)
    if title:
        ax.set_title(title)
    save_figure(fig, path)


def plot_sample_grids(sets: dict, path, per_class: int = 8, columns: int = 3) -> None:
    """The per-class sample grids of every method in one figure, ``columns`` per row.

    ``sets``: method -> (images, labels, class_names), labels as the samples carry them
    (conditioning or the in-loop classifier). Class names label the rows of the first
    panel of each row of panels; each panel has one title, its method.
    """
    names = sorted(sets)
    mosaics = {
        name: class_mosaic(images, labels, len(classes), per_class)
        for name, (images, labels, classes) in sets.items()
    }
    first = sets[names[0]]
    class_names = list(first[2])
    height, width = mosaics[names[0]].shape[:2]
    scale = _scale(first[0].shape[1] + 1, target=32)
    panel = (width * scale / DPI + 0.3, height * scale / DPI + 0.45)
    fig, axes, starts = panel_grid(len(names), panel, columns, extra_width=0.9, dpi=DPI)
    for ax, name in zip(axes, names, strict=True):
        _show_mosaic(ax, mosaics[name], class_names if ax in starts else None)
        ax.set_title(name)
    save_figure(fig, path)
