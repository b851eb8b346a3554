"""Per-class count vectors of the subset profiles, from class counts alone.

The long-tailed profiles follow Cao et al. (2019, LDAM-DRW), which every paper of
the pipeline uses (reference notes, "Long-tailed subsets"). Class index order is
the order of decreasing size; ``imbalance_ratio`` (rho) is n_max / n_min.
"""

from __future__ import annotations

import numpy as np


def exponential_counts(n_max: int, num_classes: int, imbalance_ratio: float) -> np.ndarray:
    """n_i = int(n_max * (1/rho) ** (i / (K - 1))), i = 0..K-1 (Cao et al. 2019)."""
    if num_classes < 2:
        raise ValueError("an exponential profile needs at least 2 classes")
    if imbalance_ratio < 1:
        raise ValueError(f"imbalance_ratio must be >= 1, got {imbalance_ratio}")
    i = np.arange(num_classes)
    return np.array(
        [int(n_max * (1.0 / imbalance_ratio) ** (k / (num_classes - 1))) for k in i],
        dtype=np.int64,
    )


def step_counts(n_max: int, num_classes: int, imbalance_ratio: float) -> np.ndarray:
    """Step profile: the first K - K//2 classes keep n_max, the last K//2 get n_max / rho."""
    if imbalance_ratio < 1:
        raise ValueError(f"imbalance_ratio must be >= 1, got {imbalance_ratio}")
    num_minority = num_classes // 2
    counts = np.full(num_classes, n_max, dtype=np.int64)
    counts[num_classes - num_minority :] = int(n_max / imbalance_ratio)
    return counts


def balanced_counts(total: int, num_classes: int) -> np.ndarray:
    """``total`` spread evenly over classes (REAT appendix E "balanced small").

    Each class gets total // K; the first total % K classes get one more, so the
    total is exactly that of the long-tailed subset it is compared with.
    """
    counts = np.full(num_classes, total // num_classes, dtype=np.int64)
    counts[: total % num_classes] += 1
    return counts


def imbalance_ratio_of(counts: np.ndarray) -> float:
    """n_max / n_min of the non-empty classes."""
    nonzero = counts[counts > 0]
    return float(nonzero.max() / nonzero.min()) if nonzero.size else float("nan")


def class_groups(counts: np.ndarray) -> np.ndarray:
    """Head / body / tail label of each class: thirds of the classes by size (REAT).

    Classes are ranked by count (ties by index); the first round(K/3) are head, the
    last round(K/3) tail, the rest body. For K = 10 that is 3 / 4 / 3.
    """
    num_classes = len(counts)
    order = np.lexsort((np.arange(num_classes), -np.asarray(counts)))
    third = int(round(num_classes / 3))
    groups = np.full(num_classes, "body", dtype=object)
    groups[order[:third]] = "head"
    groups[order[num_classes - third :]] = "tail"
    return groups
