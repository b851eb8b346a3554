"""Attack budgets: written in config on the [0, 1] pixel scale, used on the [-1, 1] scale.

Every network of the pipeline takes images in [-1, 1], a range that spans 2, so a
budget of eps on the [0, 1] scale is 2 * eps on the model's scale (for L-inf and L2
alike, as both scale linearly). This is the one place the conversion happens.
"""

from __future__ import annotations

from fractions import Fraction

# the range of every network's input
IMAGE_MIN, IMAGE_MAX = -1.0, 1.0
SCALE = IMAGE_MAX - IMAGE_MIN


def budget_value(value: float | int | str) -> float:
    """A budget as written in config: a number, or a fraction such as ``"8/255"``."""
    if isinstance(value, str):
        try:
            return float(Fraction(value.replace(" ", "")))
        except (ValueError, ZeroDivisionError):
            raise ValueError(
                f"expected a number or a fraction such as '8/255', got {value!r}"
            ) from None
    return float(value)


def to_model_scale(eps01: float | int | str) -> float:
    """A [0, 1]-scale budget (eps, step size) on the models' [-1, 1] scale."""
    return SCALE * budget_value(eps01)
